/*
 * bench_writer.c - a writer for scripts/bench/submit.sh that does not start
 * a process per file, as a mail gateway, a file server or a script in one
 * process writes into outbox/: THREADS threads, each writing copies of one
 * file (open O_CREAT|O_WRONLY|O_TRUNC, write, optionally fsync, close).
 *
 * usage: bench_writer SRC DIR FILES THREADS PREFIX [fsync]
 * File i is DIR/PREFIX<i as 5 digits>.tif; thread t writes i = t, t+THREADS...
 * Prints the seconds from the first open to the last close on stdout, the
 * same way for every directory, and exits 1 when any open, write, fsync or
 * close failed (each failure is printed on stderr with its errno).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *dir, *prefix;
static char *data;
static size_t data_len;
static long files, threads;
static bool do_fsync;
static atomic_long failures;

static void fail(const char *what, const char *path, int err)
{
    fprintf(stderr, "bench_writer: %s %s: %s\n", what, path, strerror(err));
    atomic_fetch_add(&failures, 1);
}

static void *writer(void *arg)
{
    long t = (long)(intptr_t)arg;
    char path[4096];

    for (long i = t; i < files; i += threads) {
        snprintf(path, sizeof path, "%s/%s%05ld.tif", dir, prefix, i);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            fail("open", path, errno);
            continue;
        }
        bool ok = true;
        for (size_t done = 0; done < data_len;) {
            ssize_t k = write(fd, data + done, data_len - done);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                fail("write", path, k < 0 ? errno : EIO);
                ok = false;
                break;
            }
            done += (size_t)k;
        }
        if (ok && do_fsync && fsync(fd) != 0)
            fail("fsync", path, errno);
        if (close(fd) != 0) /* through the mount: the job is durable, or refused, here */
            fail("close", path, errno);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7 || (argc == 7 && strcmp(argv[6], "fsync") != 0)) {
        fprintf(stderr, "usage: bench_writer SRC DIR FILES THREADS PREFIX [fsync]\n");
        return 2;
    }
    dir = argv[2];
    files = strtol(argv[3], NULL, 10);
    threads = strtol(argv[4], NULL, 10);
    prefix = argv[5];
    do_fsync = argc == 7;
    if (files <= 0 || threads <= 0 || threads > 1024) {
        fprintf(stderr, "bench_writer: FILES and THREADS must be positive (THREADS at most 1024)\n");
        return 2;
    }
    int src = open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (src < 0 || fstat(src, &st) != 0 || (data = malloc((size_t)st.st_size + 1)) == NULL ||
        read(src, data, (size_t)st.st_size) != st.st_size) {
        fprintf(stderr, "bench_writer: cannot read %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    close(src);
    data_len = (size_t)st.st_size;

    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, writer, (void *)(intptr_t)started) != 0) {
            fprintf(stderr, "bench_writer: cannot start thread %ld\n", started);
            atomic_fetch_add(&failures, 1);
            break;
        }
    for (long t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    free(tid);
    free(data);
    long f = atomic_load(&failures);
    if (f > 0 || started < threads) {
        fprintf(stderr, "bench_writer: %ld of %ld files failed\n", f, files);
        return 1;
    }
    return 0;
}
