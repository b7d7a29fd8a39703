/*
 * spool_check.c - queue_check_spool(): a read-only audit of a file spool
 * for administrators and crash tests. It never writes, locks or renames
 * anything, so it is safe beside a running daemon; what a running daemon
 * may legitimately have half-done (tmp/ work, a page being stored) is then
 * reported as a note instead of an inconsistency. Checks: docs/reliability.md.
 */
#include "queue/jobfile.h"
#include "queue/queue.h"
#include "queue/spool_names.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct check {
    FILE *out;
    const char *root;
    int rootfd, jobsfd, tmpfd, corruptfd; /* tmpfd/corruptfd may be -1 */
    bool live;                            /* a daemon holds SPOOL/lock */
    int problems, notes, jobs;
    uint64_t max_id;                      /* over jobs/ and corrupt/ */
    uint64_t *ids;                        /* ids in jobs/, for duplicate checks */
    size_t nids;
};

static void problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct check *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(c->out, fmt, ap);
    va_end(ap);
    fputc('\n', c->out);
    c->problems++;
}

static void notice(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(struct check *c, const char *fmt, ...)
{
    va_list ap;

    fputs("note: ", c->out);
    va_start(ap, fmt);
    vfprintf(c->out, fmt, ap);
    va_end(ap);
    fputc('\n', c->out);
    c->notes++;
}

/* Something a running daemon may be in the middle of: a note when one
 * runs, else an inconsistency that the next start repairs. */
static void transient(struct check *c, const char *what, const char *fix)
{
    if (c->live)
        notice(c, "%s (work in progress of the running daemon)", what);
    else
        problem(c, "%s; %s", what, fix);
}

static int read_small(int dirfd, const char *name, size_t max, char **out, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    int r = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0)
        r = -errno;
    else if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max)
        r = -EFBIG;
    if (r != 0) {
        close(fd);
        return r;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t n = buf == NULL ? -1 : pread(fd, buf, (size_t)st.st_size, 0);
    if (n < 0) {
        r = buf == NULL ? -ENOMEM : -errno;
        free(buf);
    } else {
        buf[n] = '\0';
        *out = buf;
        *len = (size_t)n;
    }
    close(fd);
    return r;
}

/* Is a daemon holding the spool lock? Tested without taking it, so a
 * daemon starting right now is never refused because of the checker. */
static void detect_daemon(struct check *c)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd = openat(c->rootfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *pid = NULL;
    size_t len = 0;

    if (fd < 0)
        return;
    c->live = fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    close(fd);
    if (!c->live)
        return;
    read_small(c->rootfd, "lock", 32, &pid, &len);
    if (pid != NULL && len > 0 && pid[len - 1] == '\n')
        pid[len - 1] = '\0';
    notice(c, "a faxfs daemon (pid %s) is using this spool; work it has in progress is reported as notes",
           pid != NULL && pid[0] ? pid : "unknown");
    free(pid);
}

static bool is_tiff(int dirfd, const char *rel)
{
    unsigned char h[4];
    int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    bool ok = false;

    if (fd < 0)
        return false;
    if (pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h)
        ok = (h[0] == 'I' && h[1] == 'I' && (h[2] == 42 || h[2] == 43) && h[3] == 0) ||
             (h[0] == 'M' && h[1] == 'M' && h[2] == 0 && (h[3] == 42 || h[3] == 43));
    close(fd);
    return ok;
}

/* ---- one job -------------------------------------------------------- */

static void check_pages(struct check *c, int jobfd, const struct job *job)
{
    char rel[48];
    struct stat st;
    uint64_t bytes = 0;
    bool all_there = true;
    unsigned long long id = (unsigned long long)job->id;

    for (int i = 1; i <= job->page_count; i++) {
        snprintf(rel, sizeof rel, "pages/%03d.tif", i);
        if (fstatat(jobfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
            problem(c, "job %llu: page %s is missing or empty; the next start sets the job aside in corrupt/: "
                       "restore the page from a backup or delete the job", id, rel);
            all_there = false;
            continue;
        }
        if (!is_tiff(jobfd, rel)) {
            problem(c, "job %llu: page %s is unreadable or not a TIFF; restore it from a backup or delete the job",
                    id, rel);
            all_there = false;
        }
        bytes += (uint64_t)st.st_size;
    }
    if (all_there && bytes != job->size)
        problem(c, "job %llu: the job file says %llu bytes of pages but the pages hold %llu; the page files were "
                   "changed behind faxfs: restore them or delete the job", id, (unsigned long long)job->size,
                (unsigned long long)bytes);
    snprintf(rel, sizeof rel, "pages/%03d.tif", job->page_count + 1);
    if (fstatat(jobfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        char what[160];
        snprintf(what, sizeof what, "job %llu: %s is beyond its page_count %d", id, rel, job->page_count);
        if (job->type == JOB_RECEIVE)
            transient(c, what, "a received page stored just before a crash; the next start counts it");
        else
            problem(c, "%s; it is never sent: remove it", what);
    }
    for (int i = 1; i <= job->page_count + 1; i++) {
        snprintf(rel, sizeof rel, "pages/%03d.tif.part", i);
        if (fstatat(jobfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            char what[160];
            snprintf(what, sizeof what, "job %llu: partial page %s", id, rel);
            transient(c, what, "a page cut off by a crash; the next start removes it");
        }
    }
}

static void check_job_state(struct check *c, int jobfd, const struct job *job)
{
    unsigned long long id = (unsigned long long)job->id;

    if (job->status == JOB_ACTIVE)
        notice(c, "job %llu is active: %s", id,
               c->live ? "a call is in progress"
                       : "the daemon stopped during its call; the next start queues it again, confirmed pages kept");
    if (job->status == JOB_RECEIVING)
        notice(c, "job %llu is receiving: %s", id,
               c->live ? "an inbound call is in progress"
                       : "the daemon stopped during the call; the next start marks it failed, pages kept");
    if (faccessat(jobfd, "log", F_OK, AT_SYMLINK_NOFOLLOW) != 0)
        problem(c, "job %llu: its log is missing; the next start creates an empty one", id);
    if (faccessat(jobfd, "job.tmp", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        char what[96];
        snprintf(what, sizeof what, "job %llu: job.tmp left over", id);
        transient(c, what, "an update cut off by a crash; the next start removes it (the job file is intact)");
    }
}

static void check_job(struct check *c, const char *name, uint64_t id)
{
    int jobfd = openat(c->jobsfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    char *text = NULL, why[200];
    size_t len = 0;
    struct job job;
    int r;

    if (jobfd < 0) {
        if (errno == ENOENT)
            return; /* deleted while we looked */
        problem(c, "jobs/%s: not a job directory (%s); the next start moves it to corrupt/", name, strerror(errno));
        return;
    }
    c->jobs++;
    if ((r = read_small(jobfd, "job", JOBFILE_MAX_BYTES, &text, &len)) != 0) {
        if (r == -ENOENT && faccessat(c->jobsfd, name, F_OK, 0) != 0)
            goto out; /* deleted while we looked */
        problem(c, "job %s: job file unreadable (%s); the next start sets the job aside in corrupt/: restore "
                   "jobs/%s/job from a backup or delete the job", name, strerror(-r), name);
        goto out;
    }
    if (jobfile_parse(text, len, &job, why, sizeof why) != 0) {
        problem(c, "job %s: bad job file: %s; the next start sets the job aside in corrupt/: repair "
                   "jobs/%s/job or delete the job", name, why, name);
        goto out;
    }
    if (job.id != id) {
        problem(c, "job %s: its job file names id %llu; the next start sets it aside in corrupt/: correct the "
                   "id and end lines or delete the job", name, (unsigned long long)job.id);
        goto out;
    }
    check_pages(c, jobfd, &job);
    check_job_state(c, jobfd, &job);
out:
    free(text);
    close(jobfd);
}

/* ---- directories ---------------------------------------------------- */

/* Names of the entries of dirfd ("." and ".." left out), sorted. */
static int list_dir(int dirfd, char ***names_out, size_t *n_out)
{
    int fd = dup(dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    rewinddir(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char **p = realloc(names, (n + 1) * sizeof *names);
        if (p == NULL || (p[n] = strdup(e->d_name)) == NULL) {
            names = p != NULL ? p : names;
            while (n > 0)
                free(names[--n]);
            free(names);
            closedir(d);
            return -ENOMEM;
        }
        names = p;
        n++;
    }
    closedir(d);
    *names_out = names;
    *n_out = n;
    return 0;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int check_jobs_dir(struct check *c)
{
    char **names;
    size_t n;
    bool exact;
    int r = list_dir(c->jobsfd, &names, &n);

    if (r != 0)
        return r;
    c->ids = calloc(n + 1, sizeof *c->ids);
    if (c->ids == NULL) {
        free_names(names, n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t id = spool_name_id(names[i], &exact);
        if (!exact) {
            problem(c, "jobs/%s: not a job id; the next start moves it to corrupt/ (or remove it)", names[i]);
            continue;
        }
        c->ids[c->nids++] = id;
        if (id > c->max_id)
            c->max_id = id;
    }
    qsort(c->ids, c->nids, sizeof *c->ids, spool_id_cmp);
    for (size_t i = 0; i < c->nids; i++) {
        char name[32];
        snprintf(name, sizeof name, "%llu", (unsigned long long)c->ids[i]);
        check_job(c, name, c->ids[i]);
    }
    free_names(names, n);
    return 0;
}

static void check_corrupt_dir(struct check *c)
{
    char **names;
    size_t n;
    bool exact;

    if (c->corruptfd < 0 || list_dir(c->corruptfd, &names, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = spool_name_id(names[i], &exact);
        if (id > c->max_id)
            c->max_id = id;
        if (id != 0 && bsearch(&id, c->ids, c->nids, sizeof *c->ids, spool_id_cmp) != NULL)
            problem(c, "job %llu: present in jobs/ and as corrupt/%s (duplicate id); keep one: delete "
                       "corrupt/%s, or move it out of the spool", (unsigned long long)id, names[i], names[i]);
        else
            problem(c, "corrupt/%s: a damaged job set aside at an earlier start; inspect it, then delete it or "
                       "repair it and move it back to jobs/ under an unused id", names[i]);
    }
    free_names(names, n);
}

static void check_tmp_dir(struct check *c)
{
    char **names, what[NAME_MAX + 64];
    size_t n;

    if (c->tmpfd < 0 || list_dir(c->tmpfd, &names, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "tmp/%s left over", names[i]);
        transient(c, what, strncmp(names[i], "draft.", 6) == 0
                               ? "a draft document of a daemon that stopped (drafts do not survive a restart); "
                                 "the next start removes it"
                               : "a submission or delete cut off by a crash; the next start removes it");
    }
    free_names(names, n);
    if (faccessat(c->rootfd, "next_id.tmp", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        transient(c, "next_id.tmp left over", "the next start removes it");
}

/* Read after the job listing: the daemon persists next_id before it
 * creates a job, so a live spool's counter is above every id listed. */
static void check_counter(struct check *c)
{
    char *text = NULL;
    size_t len = 0;
    bool exact = false;
    uint64_t v = 0;
    int r = read_small(c->rootfd, "next_id", 64, &text, &len);

    if (r == 0) {
        if (len > 0 && text[len - 1] == '\n')
            text[--len] = '\0';
        v = spool_name_id(text, &exact);
    }
    free(text);
    if (r == -ENOENT) {
        if (c->max_id > 0)
            problem(c, "next_id is missing; the next start recomputes it above job %llu (ids are never reused)",
                    (unsigned long long)c->max_id);
        return;
    }
    if (r != 0 || !exact) {
        problem(c, "next_id is damaged; the next start recomputes it from the jobs present");
        return;
    }
    /* The clean-stop mark holding the same value makes the next start
     * trust next_id (spool-format.md "Ids"): only then is it not raised. */
    bool marked = false;
    if (v <= c->max_id && read_small(c->rootfd, "clean", 64, &text, &len) == 0) {
        bool mexact = false;
        if (len > 0 && text[len - 1] == '\n')
            text[--len] = '\0';
        marked = spool_name_id(text, &mexact) == v && mexact;
        free(text);
    }
    if (marked)
        problem(c, "next_id is %llu but job %llu exists, and the clean-stop mark says next_id is exact; "
                   "remove SPOOL/clean so that the next start lists jobs/ and raises it",
                (unsigned long long)v, (unsigned long long)c->max_id);
    else if (v <= c->max_id)
        problem(c, "next_id is %llu but job %llu exists; the next start raises it (ids are never reused)",
                (unsigned long long)v, (unsigned long long)c->max_id);
}

static int open_dir_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int queue_check_spool(const char *spool_dir, FILE *report)
{
    struct check c = {.out = report, .root = spool_dir, .rootfd = -1, .jobsfd = -1, .tmpfd = -1, .corruptfd = -1};
    int r;

    if ((c.rootfd = open(spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        r = -errno;
        fprintf(report, "spool %s cannot be opened: %s\n", spool_dir, strerror(-r));
        return r;
    }
    if ((c.jobsfd = open_dir_at(c.rootfd, "jobs")) < 0) {
        r = c.jobsfd;
        fprintf(report, "spool %s has no readable jobs/ directory (%s); is it a faxfs spool?\n", spool_dir,
                strerror(-r));
        close(c.rootfd);
        return r;
    }
    c.tmpfd = open_dir_at(c.rootfd, "tmp");
    c.corruptfd = open_dir_at(c.rootfd, "corrupt");
    detect_daemon(&c);
    if ((r = check_jobs_dir(&c)) == 0) {
        check_corrupt_dir(&c);
        check_tmp_dir(&c);
        check_counter(&c);
        if (faccessat(c.rootfd, "paused", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            notice(&c, "the whole queue is paused (no calls are placed until it is resumed)");
        if (c.problems == 0)
            fprintf(report, "spool %s: clean, %d job%s checked\n", spool_dir, c.jobs, c.jobs == 1 ? "" : "s");
        else
            fprintf(report, "spool %s: %d inconsistenc%s in %d job%s checked\n", spool_dir, c.problems,
                    c.problems == 1 ? "y" : "ies", c.jobs, c.jobs == 1 ? "" : "s");
    } else {
        fprintf(report, "spool %s: cannot list jobs/: %s\n", spool_dir, strerror(-r));
    }
    int fds[] = {c.rootfd, c.jobsfd, c.tmpfd, c.corruptfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(c.ids);
    return r == 0 ? c.problems : r;
}
