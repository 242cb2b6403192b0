#define _GNU_SOURCE
#include "csystem.h"
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>

int fl_epoll_create(void) { int r = epoll_create1(EPOLL_CLOEXEC); return r < 0 ? -errno : r; }

static int ctl(int epfd, int op, int fd, uint32_t events, uint64_t tag) {
    struct epoll_event ev = { .events = events, .data.u64 = tag };
    return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}
int fl_epoll_add(int epfd, int fd, uint32_t events, uint64_t tag) { return ctl(epfd, EPOLL_CTL_ADD, fd, events, tag); }
int fl_epoll_mod(int epfd, int fd, uint32_t events, uint64_t tag) { return ctl(epfd, EPOLL_CTL_MOD, fd, events, tag); }
int fl_epoll_del(int epfd, int fd) { return ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0); }

/* Set once epoll_pwait2 said ENOSYS (kernels before 5.11, qemu-user before 11): from then on
   epoll_wait, its timeout rounded up to whole milliseconds (a timer may fire up to 1 ms late,
   never early). Only the kernel thread waits, so a plain int. */
static int pwait2_missing = 0;

int fl_epoll_uses_pwait2(void) { return !pwait2_missing; }

static int wait_once(int epfd, struct epoll_event *evs, int max, int64_t timeout_ns) {
    if (!pwait2_missing) {
        struct timespec ts, *tp = NULL;
        if (timeout_ns >= 0) { ts.tv_sec = timeout_ns / 1000000000; ts.tv_nsec = timeout_ns % 1000000000; tp = &ts; }
        int n = epoll_pwait2(epfd, evs, max, tp, NULL);
        if (n >= 0 || errno != ENOSYS) return n;
        pwait2_missing = 1;
    }
    int ms = -1;
    if (timeout_ns >= 0) {
        int64_t up = (timeout_ns + 999999) / 1000000;
        ms = up > 0x7fffffff ? 0x7fffffff : (int)up;
    }
    return epoll_wait(epfd, evs, max, ms);
}

int fl_epoll_wait(int epfd, uint32_t *events, uint64_t *tags, int max, int64_t timeout_ns, int retry_eintr) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n;
    do { n = wait_once(epfd, evs, max, timeout_ns); } while (n < 0 && errno == EINTR && retry_eintr);
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

long fl_set_timer_slack(unsigned long ns) {
    int old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (old < 0) return -errno;
    if (prctl(PR_SET_TIMERSLACK, ns, 0, 0, 0) < 0) return -errno;
    return old;
}

int fl_tick_source = 0;

int64_t fl_monotonic_ns(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double fl_ticks_init(void) {
#if defined(__x86_64__)
    char src[32] = {0};
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f) { if (!fgets(src, sizeof src, f)) src[0] = 0; fclose(f); }
    if (strncmp(src, "tsc", 3) != 0) { fl_tick_source = 0; return 1.0; }
    fl_tick_source = 1;
    int64_t t0 = fl_monotonic_ns();
    uint64_t c0 = fl_ticks();
    int64_t t1;
    do { t1 = fl_monotonic_ns(); } while (t1 - t0 < 2000000);
    uint64_t c1 = fl_ticks();
    return (double)(t1 - t0) / (double)(c1 - c0);
#elif defined(__aarch64__)
    uint64_t hz;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(hz));
    if (hz == 0) { fl_tick_source = 0; return 1.0; }
    fl_tick_source = 2;
    return 1e9 / (double)hz;
#else
    fl_tick_source = 0;
    return 1.0;
#endif
}
