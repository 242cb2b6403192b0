#define _GNU_SOURCE
#include "ctestsupport.h"
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

int64_t fl_process_cpu_ns(void) {
    struct timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int fl_gettid(void) { return (int)syscall(SYS_gettid); }

#include <pty.h>
#include <fcntl.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

int fl_openpty(char *name, unsigned long len) {
    int m, s;
    char path[128];
    if (openpty(&m, &s, path, NULL, NULL) != 0) return -errno;
    close(s);
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    fcntl(m, F_SETFD, FD_CLOEXEC);
    strncpy(name, path, len - 1);
    name[len - 1] = 0;
    return m;
}
