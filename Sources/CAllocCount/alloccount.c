#define _GNU_SOURCE
#include "alloccount.h"
#include <stddef.h>
#include <errno.h>

// glibc's own entry points: forwarding to them avoids dlsym (which itself allocates).
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

// initial-exec TLS: no allocation on first touch, also when preloaded into python.
static __thread uint64_t calls __attribute__((tls_model("initial-exec")));
static __thread uint64_t bytes __attribute__((tls_model("initial-exec")));

void *malloc(size_t n) { calls++; bytes += n; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { calls++; bytes += a * b; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { calls++; bytes += n; return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { calls++; bytes += n; return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { calls++; bytes += n; return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    calls++; bytes += n;
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

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
