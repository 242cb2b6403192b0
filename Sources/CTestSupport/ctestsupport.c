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

#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__)
#define FL_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FL_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441   /* the same number on x86_64 and aarch64 */
#endif

int fl_spawn_without_epoll_pwait2(const char *path, char *const argv[], char *const envp[], int out_fd) {
    pid_t pid = fork();
    if (pid != 0) return pid < 0 ? -errno : pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, (sigset_t *)0);   /* the test runner's threads block some */
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FL_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_epoll_pwait2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(126);
    /* The filter works: on a bad descriptor the real call says EBADF, the filtered one ENOSYS. */
    if (syscall(SYS_epoll_pwait2, -1, (void *)0, 1, (void *)0, (void *)0, 0) != -1 || errno != ENOSYS) _exit(125);
    execve(path, argv, envp);
    _exit(127);
}
