/* softmax, log-softmax and sum-normalization of a .npy file, for the suite's external-command protocol.
 *
 * Usage: softmax_npy IN.npy AXIS OUT.npy   (the op is read from SOFTMAX_CONFORMANCE_OP)
 *
 * Reads NumPy .npy files (format 1.0 or 2.0, C order, little-endian) of '<f4', '<f8', or '<u2' holding
 * bfloat16 bit patterns (SOFTMAX_CONFORMANCE_DTYPE=bfloat16); computes in long double and rounds once to
 * the input's format (bfloat16 via float: rounded twice). Compile with -DNO_MAX_SHIFT to plant the
 * classic fault (exp(x) / sum(exp(x)) without the max-shift).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *msg) {
    fprintf(stderr, "softmax_npy: %s\n", msg);
    exit(1);
}

static const char *after(const char *header, const char *key) {
    const char *p = strstr(header, key);
    if (!p) die("malformed .npy header");
    return p + strlen(key);
}

static int parse_shape(const char *header, long *shape) {
    const char *p = strchr(after(header, "'shape':"), '(');
    int ndim = 0;
    if (!p) die("malformed shape");
    for (p++; *p && *p != ')';) {
        if (*p >= '0' && *p <= '9') {
            if (ndim == 32) die("too many dimensions");
            shape[ndim++] = strtol(p, (char **)&p, 10);
        } else {
            p++;
        }
    }
    return ndim;
}

static double bf16_to_double(uint16_t bits) {
    uint32_t u = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t float_to_bf16(float f) { /* round to nearest, ties to even */
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static void write_npy(const char *path, const char *descr, const long *shape, int ndim, const void *data,
                      size_t bytes) {
    char dict[512], dims[400] = "";
    for (int i = 0; i < ndim; i++) {
        char d[32];
        snprintf(d, sizeof d, "%ld,%s", shape[i], (ndim > 1 && i < ndim - 1) ? " " : "");
        strcat(dims, d);
    }
    if (ndim > 1) dims[strlen(dims) - 1] = '\0'; /* (2, 3) rather than (2, 3,) */
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    int total = 10 + n + 1, pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write the output file");
    uint16_t hlen = (uint16_t)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hlen & 0xff, f);
    fputc(hlen >> 8, f);
    fwrite(dict, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(data, 1, bytes, f);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 4) die("usage: softmax_npy IN.npy AXIS OUT.npy");
    const char *op = getenv("SOFTMAX_CONFORMANCE_OP"), *kind = getenv("SOFTMAX_CONFORMANCE_DTYPE");
    if (!op) op = "softmax";
    FILE *f = fopen(argv[1], "rb");
    if (!f) die("cannot open the input file");
    unsigned char magic[8];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0) die("not a .npy file");
    size_t hlen;
    unsigned char b[4] = {0};
    if (magic[6] == 1) {
        if (fread(b, 1, 2, f) != 2) die("truncated header");
        hlen = b[0] | (size_t)b[1] << 8;
    } else {
        if (fread(b, 1, 4, f) != 4) die("truncated header");
        hlen = b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
    }
    char *header = calloc(hlen + 1, 1);
    if (fread(header, 1, hlen, f) != hlen) die("truncated header");
    if (strstr(after(header, "'fortran_order':"), "True") == after(header, "'fortran_order':") + 1)
        die("Fortran order is not supported");
    long shape[32];
    int ndim = parse_shape(header, shape), axis = atoi(argv[2]);
    if (axis < 0 || axis >= ndim) die("axis out of range");
    char descr[8];
    const char *d = strchr(after(header, "'descr':"), '\'');
    if (!d) die("malformed descr");
    snprintf(descr, sizeof descr, "%.3s", d + 1);
    size_t size = 1, item;
    for (int i = 0; i < ndim; i++) size *= (size_t)shape[i];
    int is_bf16 = strcmp(descr, "<u2") == 0 && kind && strcmp(kind, "bfloat16") == 0;
    if (strcmp(descr, "<f4") == 0) item = 4;
    else if (strcmp(descr, "<f8") == 0) item = 8;
    else if (is_bf16) item = 2;
    else die("unsupported dtype (float32, float64, bfloat16 only)");
    unsigned char *raw = malloc(size * item + 1);
    long double *v = malloc(size * sizeof *v + 1);
    if (fread(raw, item, size, f) != size) die("truncated data");
    fclose(f);
    for (size_t i = 0; i < size; i++) {
        if (item == 4) { float t; memcpy(&t, raw + 4 * i, 4); v[i] = t; }
        else if (item == 8) { double t; memcpy(&t, raw + 8 * i, 8); v[i] = t; }
        else { uint16_t t; memcpy(&t, raw + 2 * i, 2); v[i] = bf16_to_double(t); }
    }
    size_t n = (size_t)shape[axis], outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= (size_t)shape[i];
    for (int i = axis + 1; i < ndim; i++) inner *= (size_t)shape[i];
    for (size_t o = 0; o < outer; o++) {
        for (size_t in = 0; in < inner; in++) {
            long double m = -INFINITY, s = 0;
            int nan = 0;
            for (size_t k = 0; k < n; k++) {
                long double x = v[(o * n + k) * inner + in];
                if (isnan(x)) nan = 1;
                if (x > m) m = x;
            }
#ifdef NO_MAX_SHIFT
            m = 0;
#endif
            for (size_t k = 0; k < n; k++) {
                long double x = v[(o * n + k) * inner + in];
                s += strcmp(op, "sum_normalize") == 0 ? x : expl(x - m);
            }
            for (size_t k = 0; k < n; k++) {
                long double *x = &v[(o * n + k) * inner + in];
                if (nan) *x = NAN;
                else if (strcmp(op, "sum_normalize") == 0) *x = *x / s;
                else if (strcmp(op, "log_softmax") == 0) *x = (*x - m) - logl(s);
                else *x = expl(*x - m) / s;
            }
        }
    }
    for (size_t i = 0; i < size; i++) {
        if (item == 4) { float t = (float)v[i]; memcpy(raw + 4 * i, &t, 4); }
        else if (item == 8) { double t = (double)v[i]; memcpy(raw + 8 * i, &t, 8); }
        else { uint16_t t = float_to_bf16((float)v[i]); memcpy(raw + 2 * i, &t, 2); }
    }
    write_npy(argv[3], descr, shape, ndim, raw, size * item);
    return 0;
}
