/*
 * bench_queue_submit.c - benchmark of the submission path below the
 * filesystem (not a test): THREADS threads submit JOBS two-page faxes in
 * all through queue_submit() into a file spool in DIR with real fsyncs,
 * documents converted in process (the sandbox is left out: this measures
 * the engine and the spool's commit). In the same run, the baseline: the
 * same threads write the same number of files of the stored pages' size
 * into DIR, each fsynced. Run by scripts/bench/submit.sh.
 * usage: bench_queue_submit DIR JOBS THREADS
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue_testutil.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct writer {
    const char *dir;
    int thread, n;
    size_t bytes;
    int failed;
};

static void *write_files(void *arg)
{
    struct writer *w = arg;
    char path[4096], *buf = calloc(1, w->bytes);

    for (int j = 0; buf != NULL && j < w->n; j++) {
        snprintf(path, sizeof path, "%s/%d.%d", w->dir, w->thread, j);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, buf, w->bytes) != (ssize_t)w->bytes || fsync(fd) != 0)
            w->failed++;
        if (fd >= 0)
            close(fd);
    }
    free(buf);
    return NULL;
}

/* The baseline: the same count of fsynced files of the pages' size. */
static double baseline(const char *dir, int threads, int each, size_t bytes)
{
    pthread_t tid[64];
    struct writer w[64];
    double t0 = now();
    int failed = 0;

    for (int t = 0; t < threads; t++) {
        w[t] = (struct writer){dir, t, each, bytes, 0};
        pthread_create(&tid[t], NULL, write_files, &w[t]);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        failed += w[t].failed;
    }
    if (failed) {
        fprintf(stderr, "bench_queue_submit: %d baseline writes failed\n", failed);
        exit(1);
    }
    return now() - t0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_queue_submit DIR JOBS THREADS\n");
        return 2;
    }
    const char *dir = argv[1];
    int threads = atoi(argv[3]), each = atoi(argv[2]) / (threads > 0 ? threads : 1);
    if (threads < 1 || threads > 64 || each < 1) {
        fprintf(stderr, "bench_queue_submit: 1..64 threads and at least one job each\n");
        return 2;
    }
    int n = threads * each, *result = calloc((size_t)n, sizeof *result);
    uint64_t *id = calloc((size_t)n, sizeof *id);
    char spool[4096], base[4096];
    struct fake_clock clock = {TEST_START};
    struct fake_line line = {0};
    struct queue_config cfg;
    struct queue *q;

    snprintf(spool, sizeof spool, "%s/spool", dir);
    snprintf(base, sizeof base, "%s/baseline", dir);
    if (result == NULL || id == NULL || mkdir(base, 0700) != 0) {
        perror("bench_queue_submit");
        return 1;
    }
    test_config(&cfg, &clock, &line, NULL, spool);
    cfg.no_fsync = false;
    if (queue_open(&q, &cfg) != 0 || queue_set_paused(q, true) != 0) {
        fprintf(stderr, "bench_queue_submit: cannot open a spool in %s\n", spool);
        return 1;
    }
    double t0 = now();
    submit_concurrently(q, threads, each, 2, result, id);
    double t = now() - t0;
    for (int k = 0; k < n; k++)
        if (result[k] != 0) {
            fprintf(stderr, "bench_queue_submit: submission %d failed: %d\n", k, result[k]);
            return 1;
        }
    struct job j;
    queue_snapshot(q, id[0], &j);
    queue_close(q);
    double b = baseline(base, threads, each, (size_t)j.size);
    printf("%d jobs, %d thread(s): %.1f jobs/s, fsynced files of %llu bytes: %.1f files/s, x_fsync %.2f\n", n,
           threads, n / t, (unsigned long long)j.size, n / b, t / b);
    free(result);
    free(id);
    return 0;
}
