/* Cinnabar's C number shim.
 *
 * Redis computes INCRBYFLOAT / HINCRBYFLOAT in C `long double` (80-bit extended precision on
 * x86_64), parses with strtold and prints with printf's "%.17Lf" / "%.17Lg"; it parses scores
 * and other doubles with strtod. Rust has no `long double` and its float parser differs from
 * strtod at the edges (hex floats, "infinity", underflow reporting), so this file exposes the C
 * library's own routines through a few small functions. The Rust side (src/num.rs) holds a
 * long double as 16 opaque bytes and passes pointers; every function here copies in and out with
 * memcpy, so the Rust buffer needs no particular alignment. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Rust side reserves 16 bytes for one value. */
typedef char cinnabar_ld_fits_in_16_bytes[(sizeof(long double) <= 16) ? 1 : -1];

/* Same bound as Redis's MAX_LONG_DOUBLE_CHARS: longer inputs are not numbers. */
#define CB_LD_MAX_CHARS (5 * 1024)

static long double ld_load(const void *p) {
    long double v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void ld_store(void *p, long double v) {
    memcpy(p, &v, sizeof(v));
}

int cinnabar_ld_size(void) {
    return (int)sizeof(long double);
}

/* Strict long double parse: the whole input, no leading blank, not NaN, no overflow, no
 * underflow to zero. Returns 1 and stores the value, or 0. */
int cinnabar_ld_parse(const char *s, size_t len, void *out) {
    char buf[CB_LD_MAX_CHARS];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        errno == EINVAL || isnan(v))
        return 0;
    ld_store(out, v);
    return 1;
}

void cinnabar_ld_from_i64(long long v, void *out) {
    ld_store(out, (long double)v);
}

void cinnabar_ld_from_f64(double v, void *out) {
    ld_store(out, (long double)v);
}

double cinnabar_ld_to_f64(const void *a) {
    return (double)ld_load(a);
}

void cinnabar_ld_add(const void *a, const void *b, void *out) {
    ld_store(out, ld_load(a) + ld_load(b));
}

/* 0 finite, 1 +inf, 2 -inf, 3 NaN. */
int cinnabar_ld_class(const void *a) {
    long double v = ld_load(a);
    if (isnan(v)) return 3;
    if (isinf(v)) return v > 0 ? 1 : 2;
    return 0;
}

/* -1 if a < b, 0 if equal, 1 if a > b, 2 if unordered (a NaN is involved). */
int cinnabar_ld_cmp(const void *a, const void *b) {
    long double x = ld_load(a), y = ld_load(b);
    if (x < y) return -1;
    if (x > y) return 1;
    if (x == y) return 0;
    return 2;
}

/* Formats a long double. mode 0: "%.17Lg"; mode 1 (human): "%.17Lf" with the trailing zeros
 * and a trailing dot removed and "-0" turned into "0"; mode 2: "%La". Infinities print as
 * "inf" / "-inf". Returns the length written (without the NUL), or 0 when `cap` is too small
 * or the mode is unknown. */
int cinnabar_ld_format(const void *a, int mode, char *out, size_t cap) {
    long double v = ld_load(a);
    int l;
    if (cap == 0) return 0;
    if (isinf(v)) {
        const char *s = v > 0 ? "inf" : "-inf";
        size_t n = strlen(s);
        if (n + 1 > cap) return 0;
        memcpy(out, s, n + 1);
        return (int)n;
    }
    switch (mode) {
    case 0:
        l = snprintf(out, cap, "%.17Lg", v);
        break;
    case 1:
        l = snprintf(out, cap, "%.17Lf", v);
        break;
    case 2:
        l = snprintf(out, cap, "%La", v);
        break;
    default:
        return 0;
    }
    if (l < 0 || (size_t)l + 1 > cap) return 0;
    if (mode == 1) {
        if (memchr(out, '.', (size_t)l) != NULL) {
            while (l > 0 && out[l - 1] == '0') l--;
            if (l > 0 && out[l - 1] == '.') l--;
        }
        if (l == 2 && out[0] == '-' && out[1] == '0') {
            out[0] = '0';
            l = 1;
        }
        out[l] = '\0';
    }
    return l;
}

/* C strtod over `len` bytes (stopping early at a NUL byte, as strtod on a C string does).
 * Stores the value, the number of bytes consumed and whether errno was ERANGE. Returns 0, or -1
 * if memory for a long input could not be had. */
int cinnabar_strtod(const char *s, size_t len, double *out, size_t *consumed, int *erange) {
    char small[256];
    char *buf = small;
    char *end;
    if (len >= sizeof(small)) {
        buf = malloc(len + 1);
        if (buf == NULL) return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    *out = strtod(buf, &end);
    *erange = errno == ERANGE;
    *consumed = (size_t)(end - buf);
    if (buf != small) free(buf);
    return 0;
}

/* printf("%.17g") of a double, for checking the Rust formatter in tests. Returns the length,
 * or 0 if `cap` is too small. */
int cinnabar_fmt_g17(double v, char *out, size_t cap) {
    int l = snprintf(out, cap, "%.17g", v);
    if (l < 0 || (size_t)l + 1 > cap) return 0;
    return l;
}
