/*
 * backend_mem.c - the in-memory storage backend for tests: job files kept
 * as text (through the same jobfile code as the spool), pages and logs as
 * memfd files whose /proc/self/fd paths stand in for spool paths. One-shot
 * fault injection lets tests play a full disk.
 */
#include "queue/backend_mem.h"
#include "queue/jobfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct mem_job {
    uint64_t id;
    char *text;
    int *page_fds;
    int npages;
    int log_fd;
};

/* Used under the engine lock only (see backend.h), except the stages. */
struct mem_store {
    struct queue_backend ops;
    struct mem_job *jobs;
    size_t njobs, cap;
    uint64_t next_id; /* never below QUEUE_FIRST_JOB_ID */
    bool paused;
    int fault[MEM_FAULT_COUNT];
    struct queue_backend_env env;
};

struct queue_stage {
    struct mem_store *m;
    int *fds;
    int npages;
};

static int take_fault(struct mem_store *m, enum backend_mem_fault f)
{
    int err = m->fault[f];
    m->fault[f] = 0;
    return err ? -err : 0;
}

static struct mem_job *find(struct mem_store *m, uint64_t id)
{
    for (size_t i = 0; i < m->njobs; i++)
        if (m->jobs[i].id == id)
            return &m->jobs[i];
    return NULL;
}

static void free_job(struct mem_job *j)
{
    for (int i = 0; i < j->npages; i++)
        close(j->page_fds[i]);
    if (j->log_fd >= 0)
        close(j->log_fd);
    free(j->page_fds);
    free(j->text);
}

static void drop_job(struct mem_store *m, struct mem_job *j)
{
    free_job(j);
    size_t i = (size_t)(j - m->jobs);
    memmove(&m->jobs[i], &m->jobs[i + 1], (m->njobs - i - 1) * sizeof *j);
    m->njobs--;
}

static int add_job(struct mem_store *m, uint64_t id, char *text, int *fds, int npages, int log_fd)
{
    if (m->njobs == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct mem_job *p = realloc(m->jobs, cap * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        m->jobs = p;
        m->cap = cap;
    }
    /* Ids arrive in ascending order except in put_raw: keep sorted. */
    size_t at = m->njobs;
    while (at > 0 && m->jobs[at - 1].id > id)
        at--;
    memmove(&m->jobs[at + 1], &m->jobs[at], (m->njobs - at) * sizeof *m->jobs);
    m->jobs[at] = (struct mem_job){id, text, fds, npages, log_fd};
    m->njobs++;
    return 0;
}

static int new_memfd(const char *name)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int reopen_ro(int fd)
{
    char path[32];

    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int r = open(path, O_RDONLY | O_CLOEXEC);
    return r < 0 ? -errno : r;
}

static int mem_open(void **state, void *ctx, const char *spool_dir, const struct queue_backend_env *env)
{
    struct mem_store *m = ctx;

    (void)spool_dir;
    m->env = *env;
    *state = m;
    return 0;
}

static void mem_close(void *state)
{
    (void)state; /* the store outlives the engine; backend_mem_destroy frees it */
}

static int mem_walk(void *state, int (*fn)(void *arg, const struct job *job), void *arg)
{
    struct mem_store *m = state;
    char why[200], msg[300];
    struct job job;

    for (size_t i = 0; i < m->njobs;) {
        struct mem_job *j = &m->jobs[i];
        if (jobfile_parse(j->text, strlen(j->text), &job, why, sizeof why) != 0 || job.id != j->id ||
            job.page_count != j->npages) {
            snprintf(msg, sizeof msg, "job %llu: bad job file: %s; set aside", (unsigned long long)j->id,
                     why[0] ? why : "id or page count mismatch");
            if (m->env.log)
                m->env.log(m->env.log_ctx, QUEUE_LOG_ERR, msg);
            drop_job(m, j);
            continue;
        }
        if (j->id >= m->next_id)
            m->next_id = j->id + 1;
        int r = fn(arg, &job);
        if (r < 0)
            return r;
        i++;
    }
    return 0;
}

static int mem_next_id(void *state, uint64_t *id)
{
    struct mem_store *m = state;
    int r = take_fault(m, MEM_FAULT_NEXT_ID);

    if (r != 0)
        return r;
    *id = m->next_id++;
    return 0;
}

static int mem_update(void *state, const struct job *job)
{
    struct mem_store *m = state;
    struct mem_job *j = find(m, job->id);
    char *text;
    int r = take_fault(m, MEM_FAULT_UPDATE);

    if (r != 0)
        return r;
    if (j == NULL)
        return -ENOENT;
    long len = jobfile_format(job, &text);
    if (len < 0)
        return (int)len;
    free(j->text);
    j->text = text;
    return 0;
}

static int mem_append_log(void *state, uint64_t id, const char *line)
{
    struct mem_store *m = state;
    struct mem_job *j = find(m, id);
    int r = take_fault(m, MEM_FAULT_APPEND_LOG);

    if (r != 0)
        return r;
    if (j == NULL)
        return -ENOENT;
    size_t len = strlen(line);
    off_t end = lseek(j->log_fd, 0, SEEK_END);
    if (end < 0 || pwrite(j->log_fd, line, len, end) != (ssize_t)len)
        return -EIO;
    return 0;
}

static int mem_open_page(void *state, uint64_t id, int page)
{
    struct mem_job *j = find(state, id);

    if (j == NULL || page < 0 || page >= j->npages)
        return -ENOENT;
    return reopen_ro(j->page_fds[page]);
}

static int mem_open_log(void *state, uint64_t id)
{
    struct mem_job *j = find(state, id);

    return j == NULL ? -ENOENT : reopen_ro(j->log_fd);
}

static int mem_page_path(void *state, uint64_t id, int page, char *out, size_t outlen)
{
    struct mem_job *j = find(state, id);

    if (j == NULL || page < 0 || page >= j->npages)
        return -ENOENT;
    snprintf(out, outlen, "/proc/self/fd/%d", j->page_fds[page]);
    return 0;
}

static int mem_add_page(void *state, uint64_t id, int index, int src_fd, uint64_t max_bytes, uint64_t *bytes)
{
    struct mem_store *m = state;
    struct mem_job *j = find(m, id);
    char buf[65536];
    uint64_t off = 0;
    int r = take_fault(m, MEM_FAULT_ADD_PAGE);

    if (r != 0)
        return r;
    if (j == NULL)
        return -ENOENT;
    if (index != j->npages)
        return -EINVAL; /* pages are added in order */
    int *fds = realloc(j->page_fds, (size_t)(index + 1) * sizeof *fds);
    if (fds == NULL)
        return -ENOMEM;
    j->page_fds = fds;
    int fd = new_memfd("page");
    if (fd < 0)
        return fd;
    for (ssize_t n; (n = pread(src_fd, buf, sizeof buf, (off_t)off)) != 0; off += (uint64_t)n) {
        if (n < 0 || off + (uint64_t)n > max_bytes || write(fd, buf, (size_t)n) != n) {
            r = n < 0 ? -errno : off + (uint64_t)n > max_bytes ? -EFBIG : -EIO;
            close(fd);
            return r;
        }
    }
    if (off == 0) {
        close(fd);
        return -EINVAL;
    }
    j->page_fds[j->npages++] = fd;
    *bytes = off;
    return 0;
}

static int mem_remove(void *state, uint64_t id)
{
    struct mem_store *m = state;
    struct mem_job *j = find(m, id);
    int r = take_fault(m, MEM_FAULT_REMOVE);

    if (r != 0)
        return r;
    if (j == NULL)
        return -ENOENT;
    drop_job(m, j);
    return 0;
}

static int mem_get_paused(void *state, bool *paused)
{
    *paused = ((struct mem_store *)state)->paused;
    return 0;
}

static int mem_set_paused(void *state, bool paused)
{
    struct mem_store *m = state;
    int r = take_fault(m, MEM_FAULT_SET_PAUSED);

    if (r == 0)
        m->paused = paused;
    return r;
}

static int mem_upload_open(void *state)
{
    (void)state;
    return new_memfd("upload");
}

static int mem_stage_open(void *state, struct queue_stage **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return -ENOMEM;
    (*out)->m = state;
    return 0;
}

static int mem_stage_page(struct queue_stage *st, int index)
{
    /* Any order (a cover page comes last but is page 0); each index once. */
    if (index < 0 || (index < st->npages && st->fds[index] >= 0))
        return -EINVAL;
    if (index >= st->npages) {
        int *fds = realloc(st->fds, (size_t)(index + 1) * sizeof *fds);
        if (fds == NULL)
            return -ENOMEM;
        st->fds = fds;
        for (int i = st->npages; i <= index; i++)
            st->fds[i] = -1;
        st->npages = index + 1;
    }
    int fd = new_memfd("page");
    if (fd < 0)
        return fd;
    int dupfd = dup(fd);
    if (dupfd < 0) {
        close(fd);
        return -errno;
    }
    st->fds[index] = fd;
    return dupfd;
}

static void mem_stage_abort(struct queue_stage *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < st->npages; i++)
        if (st->fds[i] >= 0)
            close(st->fds[i]);
    free(st->fds);
    free(st);
}

static int mem_stage_commit(struct queue_stage *st, const struct job *job, const char *log_text)
{
    struct mem_store *m = st->m;
    char *text = NULL;
    int log_fd = -1;
    int r = take_fault(m, MEM_FAULT_COMMIT);
    long len = 0;

    for (int i = 0; r == 0 && i < st->npages; i++)
        if (st->fds[i] < 0)
            r = -EINVAL; /* a gap in the staged pages */
    if (r == 0 && (len = jobfile_format(job, &text)) < 0)
        r = (int)len;
    if (r == 0 && (log_fd = new_memfd("log")) < 0)
        r = log_fd;
    if (r == 0 && write(log_fd, log_text, strlen(log_text)) != (ssize_t)strlen(log_text))
        r = -EIO;
    if (r == 0)
        r = add_job(m, job->id, text, st->fds, st->npages, log_fd);
    if (r != 0) {
        free(text);
        if (log_fd >= 0)
            close(log_fd);
        mem_stage_abort(st);
        return r;
    }
    free(st);
    return 0;
}

struct queue_backend *backend_mem_create(void)
{
    struct mem_store *m = calloc(1, sizeof *m);

    if (m == NULL)
        return NULL;
    /* As the spool: start at the floor; walk() raises it above stored
     * jobs, and smaller ids put in by a test stay as they are. */
    m->next_id = QUEUE_FIRST_JOB_ID;
    m->ops = (struct queue_backend){
        .name = "memory",
        .ctx = m,
        .open = mem_open,
        .close = mem_close,
        .walk = mem_walk,
        .next_id = mem_next_id,
        .update = mem_update,
        .append_log = mem_append_log,
        .open_page = mem_open_page,
        .open_log = mem_open_log,
        .page_path = mem_page_path,
        .add_page = mem_add_page,
        .remove = mem_remove,
        .get_paused = mem_get_paused,
        .set_paused = mem_set_paused,
        .upload_open = mem_upload_open,
        .stage_open = mem_stage_open,
        .stage_page = mem_stage_page,
        .stage_commit = mem_stage_commit,
        .stage_abort = mem_stage_abort,
    };
    return &m->ops;
}

void backend_mem_destroy(struct queue_backend *b)
{
    struct mem_store *m;

    if (b == NULL)
        return;
    m = b->ctx;
    for (size_t i = 0; i < m->njobs; i++)
        free_job(&m->jobs[i]);
    free(m->jobs);
    free(m);
}

void backend_mem_fail_next(struct queue_backend *b, enum backend_mem_fault f, int err)
{
    struct mem_store *m = b->ctx;

    if ((unsigned)f < MEM_FAULT_COUNT)
        m->fault[f] = err;
}

int backend_mem_put_raw(struct queue_backend *b, uint64_t id, const char *job_text, int pages)
{
    struct mem_store *m = b->ctx;
    char *text = strdup(job_text);
    int *fds = calloc((size_t)(pages > 0 ? pages : 1), sizeof *fds);
    int log_fd = new_memfd("log");

    if (text == NULL || fds == NULL || log_fd < 0)
        goto fail;
    for (int i = 0; i < pages; i++) {
        if ((fds[i] = new_memfd("page")) < 0) {
            while (i-- > 0)
                close(fds[i]);
            goto fail;
        }
    }
    if (add_job(m, id, text, fds, pages, log_fd) == 0)
        return 0;
    for (int i = 0; i < pages; i++)
        close(fds[i]);
fail:
    free(text);
    free(fds);
    if (log_fd >= 0)
        close(log_fd);
    return -ENOMEM;
}

const char *backend_mem_job_text(struct queue_backend *b, uint64_t id)
{
    struct mem_job *j = find(b->ctx, id);

    return j == NULL ? NULL : j->text;
}
