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

#endif
