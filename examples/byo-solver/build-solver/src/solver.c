/* A tiny "solver" standing in for a vendor's product in the bring-your-own-suite example.
 *
 *   solver --input input.json --out result.csv
 *
 * Solves -u'' + alpha u = f on (0, 1), u(0) = u(1) = 0, f(x) = sin(pi x) + source x^2,
 * on n interior points, by a direct tridiagonal solve ("thomas") or conjugate gradients
 * ("cg", OpenMP-parallel). Writes every stride-th point to result.csv and a log. Like many real
 * codes it is not bit-reproducible: the output carries run-to-run noise of about 1e-12,
 * far below the suite's tolerance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PI 3.14159265358979323846

struct input {
    long n;
    double alpha, source, tol;
    long max_iter, stride;
    char method[16];
};

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *text = malloc(size + 1);
    if (!text || fread(text, 1, size, f) != (size_t)size) {
        fclose(f);
        free(text);
        return NULL;
    }
    text[size] = 0;
    fclose(f);
    return text;
}

/* Find "key": and read a number or a string after it (enough JSON for this example). */
static const char *after_key(const char *text, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *at = strstr(text, pattern);
    if (!at) return NULL;
    at = strchr(at + strlen(pattern), ':');
    return at ? at + 1 : NULL;
}

static double number(const char *text, const char *key, double fallback) {
    const char *at = after_key(text, key);
    return at ? strtod(at, NULL) : fallback;
}

static void string(const char *text, const char *key, char *out, size_t size, const char *fb) {
    const char *at = after_key(text, key);
    snprintf(out, size, "%s", fb);
    if (!at || !(at = strchr(at, '"'))) return;
    const char *end = strchr(at + 1, '"');
    if (!end || (size_t)(end - at - 1) >= size) return;
    memcpy(out, at + 1, end - at - 1);
    out[end - at - 1] = 0;
}

static double rhs(const struct input *in, long i) {
    double h = 1.0 / (in->n + 1), x = (i + 1) * h;
    return sin(PI * x) + in->source * x * x;
}

/* Tridiagonal system: diagonal 2/h^2 + alpha, off-diagonals -1/h^2. */
static long thomas(const struct input *in, double *u) {
    long n = in->n;
    double h2 = 1.0 / ((in->n + 1.0) * (in->n + 1.0));
    double a = -1.0 / h2, b = 2.0 / h2 + in->alpha;
    double *c = malloc(sizeof(double) * n);
    c[0] = a / b;
    u[0] = rhs(in, 0) / b;
    for (long i = 1; i < n; i++) {
        double m = b - a * c[i - 1];
        c[i] = a / m;
        u[i] = (rhs(in, i) - a * u[i - 1]) / m;
    }
    for (long i = n - 2; i >= 0; i--) u[i] -= c[i] * u[i + 1];
    free(c);
    return 1;
}

static void matvec(const struct input *in, const double *p, double *q) {
    long n = in->n;
    double h2 = 1.0 / ((in->n + 1.0) * (in->n + 1.0));
    double a = -1.0 / h2, b = 2.0 / h2 + in->alpha;
#pragma omp parallel for
    for (long i = 0; i < n; i++) {
        double left = i > 0 ? p[i - 1] : 0.0, right = i < n - 1 ? p[i + 1] : 0.0;
        q[i] = b * p[i] + a * (left + right);
    }
}

static double dot(long n, const double *x, const double *y) {
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum)
    for (long i = 0; i < n; i++) sum += x[i] * y[i];
    return sum;
}

static long cg(const struct input *in, double *u, double *residual) {
    long n = in->n, it = 0;
    double *r = malloc(sizeof(double) * n), *p = malloc(sizeof(double) * n);
    double *q = malloc(sizeof(double) * n);
    for (long i = 0; i < n; i++) {
        u[i] = 0.0;
        r[i] = p[i] = rhs(in, i);
    }
    double rr = dot(n, r, r), norm0 = sqrt(rr);
    while (it < in->max_iter && sqrt(rr) > in->tol * norm0) {
        matvec(in, p, q);
        double alpha = rr / dot(n, p, q);
#pragma omp parallel for
        for (long i = 0; i < n; i++) {
            u[i] += alpha * p[i];
            r[i] -= alpha * q[i];
        }
        double rr_new = dot(n, r, r);
        double beta = rr_new / rr;
#pragma omp parallel for
        for (long i = 0; i < n; i++) p[i] = r[i] + beta * p[i];
        rr = rr_new;
        it++;
    }
    *residual = sqrt(rr) / norm0;
    free(r);
    free(p);
    free(q);
    return it;
}

int main(int argc, char **argv) {
    const char *input_path = NULL, *out_path = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--input")) input_path = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) out_path = argv[i + 1];
    }
    if (!input_path || !out_path) {
        fprintf(stderr, "usage: solver --input input.json --out result.csv\n");
        return 2;
    }
    char *text = slurp(input_path);
    if (!text) {
        fprintf(stderr, "solver: cannot read %s\n", input_path);
        return 2;
    }
    struct input in;
    in.n = (long)number(text, "n", 100);
    in.alpha = number(text, "alpha", 1.0);
    in.source = number(text, "source", 0.0);
    in.tol = number(text, "tol", 1e-10);
    in.max_iter = (long)number(text, "max_iter", 100000);
    in.stride = (long)number(text, "stride", 1);
    string(text, "method", in.method, sizeof in.method, "thomas");
    free(text);
    if (in.n < 2 || in.stride < 1) {
        fprintf(stderr, "solver: n must be at least 2 and stride at least 1\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double *u = malloc(sizeof(double) * in.n), residual = 0.0;
    long iterations;
    if (!strcmp(in.method, "cg")) {
        iterations = cg(&in, u, &residual);
    } else if (!strcmp(in.method, "thomas")) {
        iterations = thomas(&in, u);
    } else {
        fprintf(stderr, "solver: unknown method '%s' (thomas or cg)\n", in.method);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    srand((unsigned)(t1.tv_nsec ^ t1.tv_sec));
    FILE *out = fopen(out_path, "w");
    if (!out) {
        fprintf(stderr, "solver: cannot write %s\n", out_path);
        return 2;
    }
    fprintf(out, "x,u\n");
    for (long i = 0; i < in.n; i += in.stride) {
        double noise = 1.0 + 1e-12 * ((double)rand() / RAND_MAX - 0.5);
        fprintf(out, "%.10e,%.12e\n", (i + 1.0) / (in.n + 1.0), u[i] * noise);
    }
    fclose(out);
    FILE *log = fopen("log.txt", "w");
    time_t now = time(NULL);
    fprintf(log, "# generated at %s", ctime(&now));
    fprintf(log, "method: %s\n", in.method);
    fprintf(log, "points: %ld\n", in.n);
    fprintf(log, "iterations: %ld\n", iterations);
    fprintf(log, "elapsed: %.6f s\n", (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
    fclose(log);
    free(u);
    return 0;
}
