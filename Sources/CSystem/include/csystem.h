// Thin C shims for the Linux calls Swift's Glibc module does not expose:
// epoll (sys/epoll.h), eventfd (sys/eventfd.h), i2c-dev (linux/i2c-dev.h). One wrapper per
// syscall, errno returned as -errno.
#ifndef FIRMLOOP_CSYSTEM_H
#define FIRMLOOP_CSYSTEM_H
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

/// EPOLLIN, EPOLLOUT, ... as plain constants (the header's enum-and-macro form does not import).
static const uint32_t fl_EPOLLIN = EPOLLIN;
static const uint32_t fl_EPOLLOUT = EPOLLOUT;
static const uint32_t fl_EPOLLERR = EPOLLERR;
static const uint32_t fl_EPOLLHUP = EPOLLHUP;
static const uint32_t fl_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t fl_EPOLLET = EPOLLET;

/// epoll_create1(EPOLL_CLOEXEC); returns fd or -errno.
int fl_epoll_create(void);
/// epoll_ctl(ADD/MOD/DEL) with data.u64 = tag; returns 0 or -errno.
int fl_epoll_add(int epfd, int fd, uint32_t events, uint64_t tag);
int fl_epoll_mod(int epfd, int fd, uint32_t events, uint64_t tag);
int fl_epoll_del(int epfd, int fd);
/// epoll_pwait2 with a nanosecond timeout (< 0: block forever). Retries EINTR when retry_eintr != 0.
/// Fills events/tags arrays; returns the count or -errno. Where epoll_pwait2 is missing (ENOSYS:
/// kernels before 5.11, qemu-user before 11), epoll_wait with the timeout rounded up to 1 ms.
int fl_epoll_wait(int epfd, uint32_t *events, uint64_t *tags, int max, int64_t timeout_ns, int retry_eintr);
/// 1 while epoll_pwait2 is used, 0 once it was found missing.
int fl_epoll_uses_pwait2(void);

/// eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK); returns fd or -errno.
int fl_eventfd_create(void);
/// Adds 1 to the counter (wakes an epoll waiter). Returns 0 or -errno.
int fl_eventfd_signal(int fd);
/// Reads and resets the counter; returns 0 (nothing pending), 1 (drained) or -errno.
int fl_eventfd_drain(int fd);

/// CLOCK_MONOTONIC in nanoseconds (vDSO, no syscall).
int64_t fl_monotonic_ns(void);

/// A cheap monotonic tick counter for the kernel's per-job accounting: the TSC on x86_64 when
/// the kernel's own clocksource is the TSC (constant and synchronised across cores), CNTVCT on
/// arm64, nanoseconds otherwise. Read it only after fl_ticks_init().
extern int fl_tick_source;   /* 0: nanoseconds, 1: TSC, 2: CNTVCT */
static inline uint64_t fl_ticks(void) {
#if defined(__x86_64__)
    if (fl_tick_source == 1) { uint32_t lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((uint64_t)hi << 32) | lo; }
#elif defined(__aarch64__)
    if (fl_tick_source == 2) { uint64_t v; __asm__ volatile("mrs %0, cntvct_el0" : "=r"(v)); return v; }
/// Linux i2c-dev (linux/i2c-dev.h), for LinuxBoard's I2C roles. Every call returns 0 (or a
/// count) or -errno.

/// The adapter's functionality bits (I2C_FUNCS).
int fl_i2c_funcs(int fd, unsigned long *funcs);
/// The address later SMBus transfers go to (I2C_SLAVE; I2C_SLAVE_FORCE when `force`, for an
/// address a kernel driver has claimed).
int fl_i2c_set_address(int fd, int address, int force);
/// One SMBus transfer (I2C_SMBUS). `read`: 1 read, 0 write. `size`: I2C_SMBUS_BYTE (1),
/// BYTE_DATA (2), WORD_DATA (3), I2C_BLOCK_DATA (8). `data` holds up to 34 bytes: for a block,
/// data[0] is the length and data[1...] the bytes; a word is data[0] low, data[1] high.
int fl_i2c_smbus(int fd, int read, uint8_t command, int size, uint8_t *data);
/// A write then a read with a repeated start (I2C_RDWR); `rlen` 0: the write alone.
int fl_i2c_write_read(int fd, int address, const uint8_t *wbuf, uint16_t wlen, uint8_t *rbuf, uint16_t rlen);

#endif
    return (uint64_t)fl_monotonic_ns();
}
/// Picks the tick source and measures it (x86_64: ~2 ms against CLOCK_MONOTONIC, once per
/// process). Returns nanoseconds per tick.
double fl_ticks_init(void);
/// Sets the calling thread's timer slack (prctl PR_SET_TIMERSLACK; Linux pads every timer of a
/// normal thread by 50 us by default). Returns the previous value in ns, or -errno.
long fl_set_timer_slack(unsigned long ns);

/// Linux i2c-dev (linux/i2c-dev.h), for LinuxBoard's I2C roles. Every call returns 0 (or a
/// count) or -errno.

/// The adapter's functionality bits (I2C_FUNCS).
int fl_i2c_funcs(int fd, unsigned long *funcs);
/// The address later SMBus transfers go to (I2C_SLAVE; I2C_SLAVE_FORCE when `force`, for an
/// address a kernel driver has claimed).
int fl_i2c_set_address(int fd, int address, int force);
/// One SMBus transfer (I2C_SMBUS). `read`: 1 read, 0 write. `size`: I2C_SMBUS_BYTE (1),
/// BYTE_DATA (2), WORD_DATA (3), I2C_BLOCK_DATA (8). `data` holds up to 34 bytes: for a block,
/// data[0] is the length and data[1...] the bytes; a word is data[0] low, data[1] high.
int fl_i2c_smbus(int fd, int read, uint8_t command, int size, uint8_t *data);
/// A write then a read with a repeated start (I2C_RDWR); `rlen` 0: the write alone.
int fl_i2c_write_read(int fd, int address, const uint8_t *wbuf, uint16_t wlen, uint8_t *rbuf, uint16_t rlen);

#endif
