/* A small memory-bandwidth kernel in the spirit of STREAM's triad:
 * a[i] = b[i] + s * c[i] over arrays far larger than the caches.
 * Prints the best triad bandwidth over several repetitions and checks the result. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef N
#define N 10000000 /* 3 arrays x 80 MB: far beyond any cache */
#endif
#define REPS 10

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void) {
    double *a = malloc(sizeof(double) * N);
    double *b = malloc(sizeof(double) * N);
    double *c = malloc(sizeof(double) * N);
    if (!a || !b || !c) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }
    const double s = 3.0;
#pragma omp parallel for
    for (long i = 0; i < N; i++) {
        a[i] = 0.0;
        b[i] = 1.0;
        c[i] = 2.0;
    }
    double best = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t = now();
#pragma omp parallel for
        for (long i = 0; i < N; i++) a[i] = b[i] + s * c[i];
        t = now() - t;
        if (t < best) best = t;
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    double bytes = 3.0 * sizeof(double) * N;
    printf("threads: %d\n", threads);
    printf("Triad: %.1f MB/s\n", bytes / best / 1e6);
    double err = 0.0;
    for (long i = 0; i < N; i++) err += fabs(a[i] - (1.0 + s * 2.0));
    if (err == 0.0)
        printf("Solution Validates\n");
    else
        printf("Solution FAILED: error %g\n", err);
    free(a);
    free(b);
    free(c);
    return err == 0.0 ? 0 : 1;
}
