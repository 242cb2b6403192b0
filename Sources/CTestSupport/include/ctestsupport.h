#ifndef FIRMLOOP_CTESTSUPPORT_H
#define FIRMLOOP_CTESTSUPPORT_H
#include <stdint.h>

// C helpers for the tests and benchmarks only (never linked into the product).

/// CPU time of the whole process (all threads) in ns.
int64_t fl_process_cpu_ns(void);
/// The calling thread's kernel thread id (gettid).
int fl_gettid(void);
/// openpty(3): a pseudo-terminal pair for serial tests. Returns the master fd (non-blocking,
/// close-on-exec) and writes the slave's path into `name`; the slave fd itself is closed.
/// -errno on failure.
int fl_openpty(char *name, unsigned long len);
/// Starts `path` with stdout and stderr on `out_fd`, under a seccomp filter that answers
/// epoll_pwait2 with ENOSYS, as a kernel before 5.11 (or qemu-user before 11) does. Returns
/// the child's pid or -errno; the child exits 126 if the filter could not be installed, 125 if
/// epoll_pwait2 still answers as the real one does.
int fl_spawn_without_epoll_pwait2(const char *path, char *const argv[], char *const envp[], int out_fd);

#endif
