#define _GNU_SOURCE
#include "csystem.h"
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

int fl_epoll_create(void) { int r = epoll_create1(EPOLL_CLOEXEC); return r < 0 ? -errno : r; }

static int ctl(int epfd, int op, int fd, uint32_t events, uint64_t tag) {
    struct epoll_event ev = { .events = events, .data.u64 = tag };
    return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}
int fl_epoll_add(int epfd, int fd, uint32_t events, uint64_t tag) { return ctl(epfd, EPOLL_CTL_ADD, fd, events, tag); }
int fl_epoll_mod(int epfd, int fd, uint32_t events, uint64_t tag) { return ctl(epfd, EPOLL_CTL_MOD, fd, events, tag); }
int fl_epoll_del(int epfd, int fd) { return ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0); }

int fl_epoll_wait(int epfd, uint32_t *events, uint64_t *tags, int max, int64_t timeout_ns, int retry_eintr) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) { ts.tv_sec = timeout_ns / 1000000000; ts.tv_nsec = timeout_ns % 1000000000; tp = &ts; }
    int n;
    do { n = epoll_pwait2(epfd, evs, max, tp, NULL); } while (n < 0 && errno == EINTR && retry_eintr);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) { events[i] = evs[i].events; tags[i] = evs[i].data.u64; }
    return n;
}

int fl_eventfd_create(void) { int r = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); return r < 0 ? -errno : r; }
int fl_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        if (write(fd, &one, sizeof one) == sizeof one) return 0;
        if (errno == EINTR) continue;
        return errno == EAGAIN ? 0 : -errno;   /* counter saturated: a wake-up is pending anyway */
    }
}
int fl_eventfd_drain(int fd) {
    uint64_t v;
    for (;;) {
        if (read(fd, &v, sizeof v) == sizeof v) return 1;
        if (errno == EINTR) continue;
        return errno == EAGAIN ? 0 : -errno;
    }
}

int64_t fl_monotonic_ns(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
int64_t fl_process_cpu_ns(void) {
    struct timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
int fl_gettid(void) { return (int)syscall(SYS_gettid); }
