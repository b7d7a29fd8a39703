/*
 * store_copy.c - a queue copied from one storage backend into another
 * through the backend interface only (see store_copy.h).
 */
#include "queue/store_copy.h"
#include "queue/fdio.h"

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
        uint64_t bytes = 0;
        r = src < 0 ? src : dst < 0 ? dst : fdio_copy(dst, src, UINT64_MAX, &bytes);
        if (src >= 0)
            close(src);
        if (dst >= 0)
            close(dst);
        if (r == 0) {
            c->pages++;
            c->bytes += bytes;
        }
    }
    if (r == 0) {
        step = "reading the log";
        int fd = c->from->open_log(c->fs, job->id);
        size_t len;
        r = fd < 0 ? fd : fdio_read_all(fd, UINT64_MAX, &log_text, &len);
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
