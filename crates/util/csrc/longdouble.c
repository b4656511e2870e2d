/* C `long double` arithmetic for INCRBYFLOAT/HINCRBYFLOAT. Redis computes these in long double
 * (80-bit on x86_64) and prints them with "%.17Lf" minus trailing zeros; Rust has no such
 * type, so this small shim does the parse, the addition and the formatting. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LD_MAX_CHARS 5120

static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[LD_MAX_CHARS];
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
    *out = v;
    return 1;
}

/* Formats like "%.17Lf" with trailing zeros (and a trailing dot) removed; "-0" becomes "0".
 * Returns the length, or -3 when `cap` is too small. */
static int human(long double v, char *out, size_t cap) {
    int l;
    if (isinf(v)) {
        l = snprintf(out, cap, v > 0 ? "inf" : "-inf");
        return (l < 0 || (size_t)l + 1 > cap) ? -3 : l;
    }
    l = snprintf(out, cap, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > cap) return -3;
    if (strchr(out, '.') != NULL) {
        while (l > 0 && out[l - 1] == '0') l--;
        if (l > 0 && out[l - 1] == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    out[l] = '\0';
    return l;
}

/* a + b. Returns the length written to out, -1 when an operand is not a valid float, -2 when
 * the result is NaN or infinite, -3 when out is too small. */
int cinnabar_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out,
                    size_t cap) {
    long double x, y, r;
    if (!parse_ld(a, alen, &x) || !parse_ld(b, blen, &y)) return -1;
    r = x + y;
    if (isnan(r) || isinf(r)) return -2;
    return human(r, out, cap);
}

/* Validates a long double literal (1) or not (0). */
int cinnabar_ld_valid(const char *a, size_t alen) {
    long double x;
    return parse_ld(a, alen, &x);
}
