// Counting allocator hook for tests and benchmarks. NEVER link it into the product:
// it replaces malloc for the whole process.
//
// Linked into an executable (the test runner, firmloop-bench), its malloc/calloc/realloc/
// posix_memalign/aligned_alloc/memalign interpose libc's for every library in the process and
// count calls and bytes per thread. Built as a shared object (`make` does it), the same file is an
// LD_PRELOAD shim for the Python peers, read through ctypes.
#ifndef FIRMLOOP_ALLOCCOUNT_H
#define FIRMLOOP_ALLOCCOUNT_H
#include <stdint.h>
/// Allocation calls made by the calling thread since it started.
uint64_t alloccount_calls(void);
/// Bytes requested by the calling thread since it started.
uint64_t alloccount_bytes(void);
/// Starts a new log of malloc sizes on the calling thread (the first 64 calls are kept).
void alloccount_sizes_reset(void);
/// Copies up to `max` logged sizes into `out`; returns how many.
long alloccount_sizes(long *out, long max);
/// Installs a hook on the Swift runtime's global executor: every job enqueued on the global
/// concurrent pool is counted (per enqueuing thread) and then enqueued as usual.
void alloccount_install_global_enqueue_hook(void);
/// Jobs the calling thread enqueued on Swift's global pool since the hook was installed.
uint64_t alloccount_global_enqueues(void);
#endif
