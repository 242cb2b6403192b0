#define _GNU_SOURCE
#include "alloccount.h"
#include <stddef.h>
#include <errno.h>

// initial-exec TLS: no allocation on first touch, also when preloaded into python.
static __thread uint64_t calls __attribute__((tls_model("initial-exec")));
static __thread uint64_t bytes __attribute__((tls_model("initial-exec")));

#if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define FL_SANITIZED 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define FL_SANITIZED 1
#endif

// The sizes of the first 64 allocation calls since alloccount_sizes_reset (per thread): what
// one operation allocates, call by call (the parked_task bench: one task's allocations).
static __thread size_t sizes[64] __attribute__((tls_model("initial-exec")));
static __thread int nsizes __attribute__((tls_model("initial-exec")));
static inline void log_size(size_t n) { if (nsizes < 64) sizes[nsizes++] = n; }
void alloccount_sizes_reset(void) { nsizes = 0; }
long alloccount_sizes(long *out, long max) { long i = 0; for (; i < nsizes && i < max; i++) out[i] = (long)sizes[i]; return i; }

#ifdef FL_SANITIZED
// Under ASan or TSan the sanitizer owns malloc: replacing it too runs our code inside the
// sanitizer's own start-up (before its TLS and shadow exist) and crashes before main. The
// sanitizers call a hook on every allocation instead, which counts the same calls.
#include <sanitizer/allocator_interface.h>
static void count_malloc(const volatile void *p, size_t n) { (void)p; calls++; bytes += n; log_size(n); }
static void count_free(const volatile void *p) { (void)p; }
__attribute__((constructor)) static void install_hooks(void) {
    __sanitizer_install_malloc_and_free_hooks(count_malloc, count_free);
}
#else
// glibc's own entry points: forwarding to them avoids dlsym (which itself allocates).
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

void *malloc(size_t n) { calls++; bytes += n; log_size(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { calls++; bytes += a * b; log_size(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { calls++; bytes += n; log_size(n); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { calls++; bytes += n; log_size(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { calls++; bytes += n; log_size(n); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    calls++; bytes += n; log_size(n);
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
#endif

uint64_t alloccount_calls(void) { return calls; }
uint64_t alloccount_bytes(void) { return bytes; }

#if defined(__clang__)
// The runtime's hook (swift/Runtime/Concurrency.h): Swift calling convention.
typedef void (*fl_enqueue_original)(void *job) __attribute__((swiftcall));
typedef void (*fl_enqueue_hook)(void *job, fl_enqueue_original original) __attribute__((swiftcall));
extern fl_enqueue_hook swift_task_enqueueGlobal_hook __attribute__((weak));
static __thread uint64_t global_enqueues __attribute__((tls_model("initial-exec")));
__attribute__((swiftcall)) static void count_enqueue(void *job, fl_enqueue_original original) {
    global_enqueues++;
    original(job);
}
void alloccount_install_global_enqueue_hook(void) {
    if (&swift_task_enqueueGlobal_hook) swift_task_enqueueGlobal_hook = count_enqueue;
}
uint64_t alloccount_global_enqueues(void) { return global_enqueues; }
#else
void alloccount_install_global_enqueue_hook(void) {}
uint64_t alloccount_global_enqueues(void) { return 0; }
#endif
