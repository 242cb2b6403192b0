/* Linked into the aarch64 binary (scripts/arm64-sdk.sh puts its object in the SDK's link line).
 *
 * The only aarch64 Swift runtime Debian has (sid's 6.2.3) was built against glibc 2.42, and its
 * static libraries call a few functions that bookworm's glibc 2.36 does not have. The binary is
 * linked against bookworm's, so it runs on Raspberry Pi OS bookworm and trixie alike: these give
 * the new names their old meaning. C23's strtol family also reads a "0b" prefix; nothing in the
 * runtime parses one (environment variables and /proc numbers are decimal or hex). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long __isoc23_strtol(const char *s, char **end, int base) { return strtol(s, end, base); }
unsigned long __isoc23_strtoul(const char *s, char **end, int base) { return strtoul(s, end, base); }
long long __isoc23_strtoll(const char *s, char **end, int base) { return strtoll(s, end, base); }
unsigned long long __isoc23_strtoull(const char *s, char **end, int base) { return strtoull(s, end, base); }
intmax_t __isoc23_strtoimax(const char *s, char **end, int base) { return strtoimax(s, end, base); }
uintmax_t __isoc23_strtoumax(const char *s, char **end, int base) { return strtoumax(s, end, base); }

int __isoc23_vsscanf(const char *s, const char *format, va_list ap) { return vsscanf(s, format, ap); }
int __isoc23_sscanf(const char *s, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    int n = vsscanf(s, format, ap);
    va_end(ap);
    return n;
}

/* glibc 2.38 */
size_t strlcpy(char *dst, const char *src, size_t size) {
    size_t len = strlen(src);
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = 0;
    }
    return len;
}
size_t strlcat(char *dst, const char *src, size_t size) {
    size_t have = strnlen(dst, size);
    return have == size ? size + strlen(src) : have + strlcpy(dst + have, src, size - have);
}
