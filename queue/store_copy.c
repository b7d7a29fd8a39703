/*
 * store_copy.c - a queue copied from one storage backend into another
 * through the backend interface only (see store_copy.h).
 */
#include "queue/store_copy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void copy_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "faxfs: %s%s\n", level <= QUEUE_LOG_ERR ? "error: " : "", msg);
}

static int count_job(void *arg, const struct job *job)
{
    (void)job;
    (*(size_t *)arg)++;
    return 0;
}

struct copy {
    const struct queue_backend *from, *to;
    void *fs, *ts;
    size_t jobs, pages;
    unsigned long long bytes;
    char *why;
    size_t whylen;
};

static int copy_fd(int dst, int src, unsigned long long *bytes)
{
    char buf[65536];
    off_t off = 0;

    for (;;) {
        ssize_t n = pread(src, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(dst, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -errno;
            done += w;
        }
        off += n;
        *bytes += (unsigned long long)n;
    }
}

static int read_all(int fd, char **out)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    if (buf == NULL)
        return -ENOMEM;
    for (;;) {
        if (len + 1 >= cap) {
            char *p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                return -ENOMEM;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t n = pread(fd, buf + len, cap - len - 1, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int r = -errno;
            free(buf);
            return r;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static int copy_job(void *arg, const struct job *job)
{
    struct copy *c = arg;
    struct queue_stage *st;
    char *log_text = NULL;
    const char *step = "staging";
    int r = c->to->stage_open(c->ts, &st);

    if (r != 0)
        goto out;
    for (int i = 0; r == 0 && i < job->page_count; i++) {
        int src = c->from->open_page(c->fs, job->id, i);
        int dst = src < 0 ? -1 : c->to->stage_page(st, i);
        step = src < 0 ? "reading a page" : "writing a page";
        r = src < 0 ? src : dst < 0 ? dst : copy_fd(dst, src, &c->bytes);
        if (src >= 0)
            close(src);
        if (dst >= 0)
            close(dst);
        if (r == 0)
            c->pages++;
    }
    if (r == 0) {
        step = "reading the log";
        int fd = c->from->open_log(c->fs, job->id);
        r = fd < 0 ? fd : read_all(fd, &log_text);
        if (fd >= 0)
            close(fd);
    }
    if (r != 0) {
        c->to->stage_abort(st);
        goto out;
    }
    step = "storing";
    r = c->to->stage_commit(st, job, log_text); /* consumes st */
out:
    free(log_text);
    if (r != 0) {
        snprintf(c->why, c->whylen, "job %llu: %s failed: %s", (unsigned long long)job->id, step, strerror(-r));
        return r;
    }
    c->jobs++;
    return 0;
}

int queue_store_copy(const struct queue_backend *from, const char *from_dir, const struct queue_backend *to,
                     const char *to_dir, FILE *out, char *why, size_t whylen)
{
    struct queue_backend_env env = {.log = copy_log};
    struct copy c = {.from = from, .to = to, .why = why, .whylen = whylen};
    size_t present = 0;
    bool paused = false;
    int r;

    if ((r = from->open(&c.fs, from->ctx, from_dir, &env)) != 0) {
        snprintf(why, whylen, "cannot open the %s store to copy from: %s", from->name, strerror(-r));
        return r;
    }
    if ((r = to->open(&c.ts, to->ctx, to_dir, &env)) != 0) {
        snprintf(why, whylen, "cannot open the %s store to copy into: %s", to->name, strerror(-r));
        from->close(c.fs);
        return r;
    }
    r = to->walk(c.ts, count_job, &present);
    if (r == 0 && present > 0) {
        snprintf(why, whylen, "the %s store to copy into holds %zu job%s; copy only into an empty store", to->name,
                 present, present == 1 ? "" : "s");
        r = -EEXIST;
    } else if (r != 0) {
        snprintf(why, whylen, "cannot read the %s store to copy into: %s", to->name, strerror(-r));
    }
    if (r == 0)
        r = from->walk(c.fs, copy_job, &c);
    if (r == 0 && (r = from->get_paused(c.fs, &paused)) == 0 && paused)
        r = to->set_paused(c.ts, true);
    /* After the walk: the source's counter is above every id it holds. */
    if (r == 0 && from->peek_next_id != NULL && to->raise_next_id != NULL) {
        uint64_t next;
        if ((r = from->peek_next_id(c.fs, &next)) == 0)
            r = to->raise_next_id(c.ts, next);
        if (r != 0)
            snprintf(why, whylen, "the id counter could not be copied: %s", strerror(-r));
        else
            fprintf(out, "next job id: %llu\n", (unsigned long long)next);
    } else if (r == 0) {
        fprintf(out, "note: the id counter was not copied (the %s store cannot say or take it)\n",
                from->peek_next_id == NULL ? from->name : to->name);
    }
    if (r == 0)
        fprintf(out, "copied %zu job%s, %zu page%s, %llu bytes of pages%s\n", c.jobs, c.jobs == 1 ? "" : "s",
                c.pages, c.pages == 1 ? "" : "s", c.bytes, paused ? "; the queue is paused" : "");
    to->close(c.ts);
    from->close(c.fs);
    return r;
}
