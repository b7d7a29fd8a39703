/*
 * spool.c - the default storage backend: one directory per job under
 * SPOOL/jobs/, built in SPOOL/tmp/ and renamed into place, job files
 * replaced by temp file + fsync + rename + directory fsync, a durable id
 * counter, and recovery that sets damaged jobs aside in SPOOL/corrupt/.
 * The layout is documented in docs/spool-format.md.
 */
#include "queue/backend.h"
#include "queue/draft_files.h"
#include "queue/fault.h"
#include "queue/fdio.h"
#include "queue/jobfile.h"
#include "queue/spool_names.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_LOG_FDS 16 /* job logs kept open for appending */

struct spool {
    char root[PATH_MAX];
    int rootfd, jobsfd, tmpfd, corruptfd;
    int lockfd; /* SPOOL/lock, write-locked while this spool is open */
    uint64_t next_id;  /* the next id to hand out */
    uint64_t reserved; /* the value SPOOL/next_id holds (0: not yet written): ids below it are spent */
    uint64_t max_seen; /* highest id found in jobs/ or corrupt/ */
    /* The clean-shutdown mark (docs/spool-format.md "Ids"): trusted when
     * SPOOL/clean was found at open holding next_id's exact value, so the
     * counter is above every stored id without listing jobs/; listed_all
     * once every entry of jobs/ was seen (max_seen complete). A mark is
     * written at close only when one of them holds. */
    bool trusted, listed_all;
    struct queue_backend_env env;
    pthread_mutex_t stage_lock; /* protects stage_seq: stages are made on any thread */
    unsigned stage_seq;
    /* commit_lock protects the four below: single jobs waiting to be made
     * durable together (spool_stage_commit). */
    pthread_mutex_t commit_lock;
    pthread_cond_t commit_done;
    struct spool_commit *waiting; /* for the next flush, newest first */
    bool syncing;                 /* a batch is in its syncfs() */
    bool publishing;              /* a batch is being renamed into jobs/ */
    /* log_lock protects the three below: the logs of the jobs appended to
     * last stay open (a call appends a line per T.30 message), the least
     * recently used closed first; a job's is closed before its directory
     * is removed or set aside. fd -1: a free slot. */
    pthread_mutex_t log_lock;
    struct spool_log_fd { uint64_t id; int fd; uint64_t used; } logs[SPOOL_LOG_FDS];
    uint64_t log_tick;
};

struct queue_stage {
    struct spool *sp;
    char name[64]; /* under tmp/ */
    int dirfd, pagesfd;
    int npages;
    /* A group's per-job cover pages, STAGE/covers/<job index>.tif: each
     * becomes page 001 of its job; the shared pages start at 002. */
    int coversfd; /* -1 until the first */
    size_t ncovers;
};

/* Ids are reserved durably in blocks of this many: one counter write per
 * block, not per job. A crash skips the rest of a block; a clean close
 * writes back the exact next id. */
#define SPOOL_ID_BLOCK 100

/* ---- small file helpers --------------------------------------------- */

static void spool_log(struct spool *sp, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void spool_log(struct spool *sp, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sp->env.log != NULL)
        sp->env.log(sp->env.log_ctx, level, msg);
}

static int spool_fsync(const struct spool *sp, int fd)
{
    if (sp->env.no_fsync)
        return 0;
    return fsync(fd) == 0 ? 0 : -errno;
}

/* The fault point "<prefix>.<step>" (test builds only). */
static int spool_fault(const char *prefix, const char *step)
{
#ifdef FAXFS_FAULT_INJECTION
    char point[64];

    snprintf(point, sizeof point, "%s.%s", prefix, step);
    return fault_hit(point);
#else
    (void)prefix;
    (void)step;
    return 0;
#endif
}

/* Writes name in dirfd so that readers see the old or the new content.
 * what names the fault points "<what>.tmp_written" and "<what>.renamed". */
static int write_file_atomic(struct spool *sp, int dirfd, const char *name, const char *data, size_t len,
                             const char *what)
{
    char tmp[NAME_MAX];
    int fd, r;

    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    r = fdio_write_all(fd, data, len);
    if (r == 0)
        r = spool_fsync(sp, fd);
    if (close(fd) != 0 && r == 0)
        r = -errno;
    if (r == 0)
        r = spool_fault(what, "tmp_written");
    if (r == 0 && renameat(dirfd, tmp, dirfd, name) != 0)
        r = -errno;
    if (r == 0)
        r = spool_fault(what, "renamed");
    if (r == 0)
        r = spool_fsync(sp, dirfd);
    if (r != 0)
        unlinkat(dirfd, tmp, 0);
    return r;
}

static int read_file(int dirfd, const char *name, size_t max, char **out, size_t *outlen)
{
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    int r = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        r = -EFBIG;
        goto out;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        r = -ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *outlen = got;
out:
    close(fd);
    return r;
}

/* rm -r name in dirfd; best effort, returns the first error. */
static int remove_tree(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int r = 0;

    if (fd < 0) {
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(dirfd, name, 0) == 0 ? 0 : -errno;
        return errno == ENOENT ? 0 : -errno;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -errno;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int rr = remove_tree(fd, e->d_name);
        if (rr != 0 && r == 0)
            r = rr;
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && r == 0)
        r = -errno;
    return r;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];

    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int open_subdir(int rootfd, const char *name)
{
    if (mkdirat(rootfd, name, 0700) != 0 && errno != EEXIST)
        return -errno;
    int fd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* ---- open, counter, recovery ---------------------------------------- */

static void clean_tmp(struct spool *sp)
{
    DIR *d = fdopendir(dup(sp->tmpfd));
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int r = remove_tree(sp->tmpfd, e->d_name);
        spool_log(sp, r == 0 ? QUEUE_LOG_NOTICE : QUEUE_LOG_WARNING,
                  "spool %s: leftover temporary tmp/%s %s", sp->root, e->d_name,
                  r == 0 ? "removed" : "could not be removed");
    }
    closedir(d);
}

static void recover_groups(struct spool *sp);

static void scan_corrupt_ids(struct spool *sp)
{
    DIR *d = fdopendir(dup(sp->corruptfd));
    struct dirent *e;
    bool exact;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        uint64_t id = spool_name_id(e->d_name, &exact);
        if (id > sp->max_seen)
            sp->max_seen = id;
    }
    closedir(d);
}

/* SPOOL/clean, written at a clean close after next_id, removed (durably)
 * at open before anything else: found at open, it says the daemon stopped
 * cleanly and next_id is exact, above every stored id. Trusted only when it
 * holds next_id's value, so a next_id written after it (a copy, a hand
 * edit) is not. After a crash there is no mark and jobs/ is listed. */
static void read_clean_mark(struct spool *sp, bool counter_exact)
{
    char *buf = NULL;
    size_t len;
    bool exact;

    if (read_file(sp->rootfd, "clean", 64, &buf, &len) != 0)
        return;
    if (len > 0 && buf[len - 1] == '\n')
        buf[len - 1] = '\0';
    uint64_t v = spool_name_id(buf, &exact);
    free(buf);
    if (unlinkat(sp->rootfd, "clean", 0) != 0 || spool_fsync(sp, sp->rootfd) != 0) {
        spool_log(sp, QUEUE_LOG_WARNING, "spool %s: cannot remove the clean-stop mark (%s); jobs/ is listed at start",
                  sp->root, strerror(errno));
        return;
    }
    sp->trusted = counter_exact && exact && v == sp->next_id;
}

static void write_clean_mark(struct spool *sp)
{
    char buf[32];
    uint64_t v = sp->next_id > sp->max_seen ? sp->next_id : sp->max_seen + 1;

    if (!sp->trusted && !sp->listed_all)
        return; /* the counter was never checked against jobs/ */
    if (v < QUEUE_FIRST_JOB_ID)
        v = QUEUE_FIRST_JOB_ID;
    int len = snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)v);
    if (write_file_atomic(sp, sp->rootfd, "next_id", buf, (size_t)len, "spool.next_id_close") != 0 ||
        write_file_atomic(sp, sp->rootfd, "clean", buf, (size_t)len, "spool.clean") != 0)
        spool_log(sp, QUEUE_LOG_WARNING, "spool %s: no clean-stop mark written; the next start lists jobs/ first",
                  sp->root);
}

static bool read_counter(struct spool *sp)
{
    char *buf = NULL;
    size_t len;
    bool exact;

    sp->next_id = QUEUE_FIRST_JOB_ID;
    if (read_file(sp->rootfd, "next_id", 64, &buf, &len) != 0) {
        return false;
    }
    if (len > 0 && buf[len - 1] == '\n')
        buf[len - 1] = '\0';
    uint64_t v = spool_name_id(buf, &exact);
    if (exact)
        sp->next_id = v;
    else
        spool_log(sp, QUEUE_LOG_WARNING, "spool %s: next_id is damaged; recomputed from the jobs present",
                  sp->root);
    free(buf);
    return exact;
}

/* One daemon per spool: two engines over one spool would hand out the same
 * ids and fight over every job. An open file description lock (released by
 * the kernel when the process dies, even by kill -9) on SPOOL/lock, which
 * also holds the owner's pid for people and for queue_check_spool(). */
static int lock_spool(struct spool *sp)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    char pid[32];

    sp->lockfd = openat(sp->rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (sp->lockfd < 0)
        return -errno;
    if (fcntl(sp->lockfd, F_OFD_SETLK, &fl) != 0) {
        int r = errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
        char *holder = NULL;
        size_t len = 0;
        read_file(sp->rootfd, "lock", 32, &holder, &len);
        if (holder != NULL && len > 0 && holder[len - 1] == '\n')
            holder[len - 1] = '\0';
        spool_log(sp, QUEUE_LOG_ERR, "spool %s is in use by another faxfs (pid %s); stop it or use another spool",
                  sp->root, holder != NULL && holder[0] ? holder : "unknown");
        free(holder);
        return r;
    }
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(sp->lockfd, 0) != 0 || pwrite(sp->lockfd, pid, (size_t)n, 0) != n)
        spool_log(sp, QUEUE_LOG_WARNING, "spool %s: cannot record the daemon's pid in lock", sp->root);
    return 0;
}

static void spool_close(void *state)
{
    struct spool *sp = state;

    if (sp == NULL)
        return;
    /* The unused rest of the last id block back: a clean stop skips no id;
     * then the mark that lets the next start skip listing jobs/ first. */
    if (sp->rootfd >= 0 && sp->lockfd >= 0 && (sp->trusted || sp->listed_all)) {
        write_clean_mark(sp);
    } else if (sp->rootfd >= 0 && sp->reserved > sp->next_id) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)sp->next_id);
        if (write_file_atomic(sp, sp->rootfd, "next_id", buf, (size_t)len, "spool.next_id_close") != 0)
            spool_log(sp, QUEUE_LOG_WARNING, "spool %s: next_id left at %llu (ids up to it are skipped)", sp->root,
                      (unsigned long long)sp->reserved);
    }
    for (size_t i = 0; i < SPOOL_LOG_FDS; i++)
        if (sp->logs[i].fd >= 0)
            close(sp->logs[i].fd);
    pthread_mutex_destroy(&sp->log_lock);
    int fds[] = {sp->rootfd, sp->jobsfd, sp->tmpfd, sp->corruptfd, sp->lockfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&sp->stage_lock);
    pthread_mutex_destroy(&sp->commit_lock);
    pthread_cond_destroy(&sp->commit_done);
    free(sp);
}

static int spool_open(void **state, void *ctx, const char *spool_dir, const struct queue_backend_env *env)
{
    struct spool *sp = calloc(1, sizeof *sp);
    int r;

    (void)ctx;
    if (sp == NULL)
        return -ENOMEM;
    sp->rootfd = sp->jobsfd = sp->tmpfd = sp->corruptfd = sp->lockfd = -1;
    sp->env = *env;
    pthread_mutex_init(&sp->stage_lock, NULL);
    pthread_mutex_init(&sp->commit_lock, NULL);
    pthread_cond_init(&sp->commit_done, NULL);
    pthread_mutex_init(&sp->log_lock, NULL);
    for (size_t i = 0; i < SPOOL_LOG_FDS; i++)
        sp->logs[i].fd = -1;
    if (spool_dir == NULL || spool_dir[0] == '\0') {
        r = -EINVAL;
        goto fail;
    }
    if ((r = mkdir_p(spool_dir)) != 0)
        goto fail;
    if (realpath(spool_dir, sp->root) == NULL) {
        r = -errno;
        goto fail;
    }
    sp->rootfd = open(sp->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->rootfd < 0) {
        r = -errno;
        goto fail;
    }
    if ((r = lock_spool(sp)) != 0)
        goto fail;
    if ((sp->jobsfd = open_subdir(sp->rootfd, "jobs")) < 0 || (sp->tmpfd = open_subdir(sp->rootfd, "tmp")) < 0 ||
        (sp->corruptfd = open_subdir(sp->rootfd, "corrupt")) < 0) {
        r = sp->jobsfd < 0 ? sp->jobsfd : sp->tmpfd < 0 ? sp->tmpfd : sp->corruptfd;
        goto fail;
    }
    recover_groups(sp);
    clean_tmp(sp);
    unlinkat(sp->rootfd, "next_id.tmp", 0);
    unlinkat(sp->rootfd, "clean.tmp", 0);
    read_clean_mark(sp, read_counter(sp));
    scan_corrupt_ids(sp);
    *state = sp;
    return 0;
fail:
    spool_close(sp);
    return r;
}

/* Hands out n consecutive ids from *first. SPOOL/next_id is raised (temp
 * file, fsync, rename, directory fsync) before an id past what it already
 * holds is used, a block beyond the need at a time, so an id is never
 * handed out twice even across crashes. Above every id present (next_id
 * may have been lost or damaged), and never below the first id: a spool
 * from before that floor keeps its small ids and continues from the floor,
 * so new ids sort as text. */
static int spool_take_ids(struct spool *sp, uint64_t n, uint64_t *first)
{
    uint64_t v = sp->next_id > sp->max_seen ? sp->next_id : sp->max_seen + 1;
    char buf[32];

    if (v < QUEUE_FIRST_JOB_ID)
        v = QUEUE_FIRST_JOB_ID;
    if (v + n > sp->reserved) {
        uint64_t upto = v + n - 1 + SPOOL_ID_BLOCK;
        int len = snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)upto);
        int r = write_file_atomic(sp, sp->rootfd, "next_id", buf, (size_t)len, "spool.next_id");
        if (r != 0) {
            spool_log(sp, QUEUE_LOG_ERR, "spool %s: cannot persist next_id: %s", sp->root, strerror(-r));
            return r;
        }
        sp->reserved = upto;
    }
    sp->next_id = v + n;
    *first = v;
    return 0;
}

static int spool_next_id(void *state, uint64_t *id)
{
    return spool_take_ids(state, 1, id);
}

/* Closes the kept log of job id, if any (log_lock held). */
static void drop_log_fd(struct spool *sp, uint64_t id)
{
    for (size_t i = 0; i < SPOOL_LOG_FDS; i++)
        if (sp->logs[i].fd >= 0 && sp->logs[i].id == id) {
            close(sp->logs[i].fd);
            sp->logs[i] = (struct spool_log_fd){ .fd = -1 };
        }
}

/* Moves a damaged jobs/ entry to corrupt/, never over an earlier one. */
static void set_aside(struct spool *sp, const char *name, const char *reason)
{
    char target[NAME_MAX];

    snprintf(target, sizeof target, "%s", name);
    pthread_mutex_lock(&sp->log_lock);
    drop_log_fd(sp, strtoull(name, NULL, 10));
    pthread_mutex_unlock(&sp->log_lock);
    for (int i = 1; i < 1000; i++) {
        if (renameat2(sp->jobsfd, name, sp->corruptfd, target, RENAME_NOREPLACE) == 0) {
            spool_fsync(sp, sp->corruptfd);
            spool_fsync(sp, sp->jobsfd);
            spool_log(sp, QUEUE_LOG_ERR, "job %s: %s; moved to %s/corrupt/%s", name, reason, sp->root, target);
            return;
        }
        if (errno != EEXIST)
            break;
        snprintf(target, sizeof target, "%s.%d", name, i);
    }
    spool_log(sp, QUEUE_LOG_ERR, "job %s: %s; could not move it to %s/corrupt/ (%s), skipped", name, reason,
              sp->root, strerror(errno));
}

static int check_pages(int jobfd, int page_count, char *why, size_t whylen)
{
    char name[32];
    struct stat st;

    for (int i = 1; i <= page_count; i++) {
        snprintf(name, sizeof name, "pages/%03d.tif", i);
        if (fstatat(jobfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
            snprintf(why, whylen, "page file %s is missing or empty", name);
            return -EINVAL;
        }
    }
    return 0;
}

/* Removes pages/NNN.tif.part files: pages a crash cut off mid-copy. */
static void remove_partial_pages(struct spool *sp, int jobfd, const char *name)
{
    int fd = openat(jobfd, "pages", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    struct dirent *e;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".part") == 0 && unlinkat(fd, e->d_name, 0) == 0)
            spool_log(sp, QUEUE_LOG_NOTICE, "job %s: partial page pages/%s removed", name, e->d_name);
    }
    closedir(d);
}

/* A receive job's page stored just before a crash, but not yet counted in
 * the job file, is complete (it was renamed into place only when whole):
 * keep it rather than lose a page of someone's fax. */
static void adopt_received_pages(struct spool *sp, int jobfd, const char *name, struct job *job)
{
    char rel[32];
    struct stat st;
    int adopted = 0;

    for (;;) {
        snprintf(rel, sizeof rel, "pages/%03d.tif", job->page_count + 1);
        if (fstatat(jobfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
            break;
        job->page_count++;
        job->size += (uint64_t)st.st_size;
        adopted++;
    }
    if (adopted == 0)
        return;
    char *text;
    long len = jobfile_format(job, &text);
    int r = len < 0 ? (int)len : write_file_atomic(sp, jobfd, "job", text, (size_t)len, "spool.update");
    if (len >= 0)
        free(text);
    spool_log(sp, r == 0 ? QUEUE_LOG_NOTICE : QUEUE_LOG_WARNING,
              "job %s: %d received page%s stored before the server stopped %s", name, adopted,
              adopted == 1 ? "" : "s", r == 0 ? "kept" : "kept for now (the job file could not be rewritten)");
}

/* Loads jobs/<name>; on damage fills why and returns -EINVAL. */
static int load_job(struct spool *sp, const char *name, uint64_t id, struct job *job, char *why, size_t whylen)
{
    int jobfd = openat(sp->jobsfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    char *buf = NULL;
    size_t len;
    int r;

    if (jobfd < 0) {
        snprintf(why, whylen, "not a job directory");
        return -EINVAL;
    }
    if (unlinkat(jobfd, "job.tmp", 0) == 0)
        spool_log(sp, QUEUE_LOG_NOTICE, "job %s: leftover job.tmp removed", name);
    r = read_file(jobfd, "job", JOBFILE_MAX_BYTES, &buf, &len);
    if (r != 0) {
        snprintf(why, whylen, "job file unreadable (%s)", strerror(-r));
        r = -EINVAL;
        goto out;
    }
    char reason[200];
    if (jobfile_parse(buf, len, job, reason, sizeof reason) != 0) {
        snprintf(why, whylen, "bad job file: %s", reason);
        r = -EINVAL;
        goto out;
    }
    if (job->id != id) {
        snprintf(why, whylen, "job file names id %llu", (unsigned long long)job->id);
        r = -EINVAL;
        goto out;
    }
    if ((r = check_pages(jobfd, job->page_count, why, whylen)) != 0)
        goto out;
    /* Only received pages are copied in as .part files (spool_add_page):
     * a send job's pages/ is not read at all, which matters at start
     * with many thousands of jobs. */
    if (job->type == JOB_RECEIVE) {
        remove_partial_pages(sp, jobfd, name);
        adopt_received_pages(sp, jobfd, name, job);
    }
    if (faccessat(jobfd, "log", F_OK, 0) != 0) {
        int fd = openat(jobfd, "log", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
        spool_log(sp, QUEUE_LOG_NOTICE, "job %s: log was missing; started a new one", name);
    }
out:
    free(buf);
    close(jobfd);
    return r;
}

/* Ids of jobs/ entries, ascending; strays are set aside on the way. */
static int list_job_ids(struct spool *sp, uint64_t **ids_out, size_t *n_out)
{
    /* A descriptor of its own: a dup would share the offset with any
     * other walk of jobs/ (the listing may run on the loader thread). */
    DIR *d = fdopendir(openat(sp->jobsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    uint64_t *ids = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    bool exact;

    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        uint64_t id = spool_name_id(e->d_name, &exact);
        if (!exact) {
            set_aside(sp, e->d_name, "not a job id");
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *p = realloc(ids, cap * sizeof *ids);
            if (p == NULL) {
                free(ids);
                closedir(d);
                return -ENOMEM;
            }
            ids = p;
        }
        ids[n++] = id;
    }
    closedir(d);
    if (n > 0)
        qsort(ids, n, sizeof *ids, spool_id_cmp);
    *ids_out = ids;
    *n_out = n;
    return 0;
}

static int spool_walk(void *state, int (*fn)(void *arg, const struct job *job), void *arg)
{
    struct spool *sp = state;
    uint64_t *ids = NULL;
    size_t n = 0;
    int r = list_job_ids(sp, &ids, &n);

    if (r != 0)
        return r;
    if (n > 0 && ids[n - 1] > sp->max_seen)
        sp->max_seen = ids[n - 1];
    sp->listed_all = true;
    for (size_t i = 0; i < n && r >= 0; i++) {
        char name[32], why[256];
        struct job job;
        snprintf(name, sizeof name, "%llu", (unsigned long long)ids[i]);
        if (ids[i] > sp->max_seen)
            sp->max_seen = ids[i];
        if (load_job(sp, name, ids[i], &job, why, sizeof why) != 0) {
            set_aside(sp, name, why);
            continue;
        }
        r = fn(arg, &job);
    }
    free(ids);
    return r < 0 ? r : 0;
}

static bool spool_ids_trusted(void *state)
{
    return ((struct spool *)state)->trusted;
}

/* Loading in the background (backend.h list_ids, load_one). */
static int spool_list_ids(void *state, uint64_t **ids, size_t *n)
{
    struct spool *sp = state;
    int r = list_job_ids(sp, ids, n);

    /* Every id present counts before a single one is loaded, so next_id
     * never hands out one of them while the rest still load. With a
     * trusted counter (the clean-stop mark) every id is below next_id
     * already, and the listing may run on the loader thread: nothing of
     * the counter is touched then. */
    if (sp->trusted)
        return r;
    if (r == 0 && *n > 0 && (*ids)[*n - 1] > sp->max_seen)
        sp->max_seen = (*ids)[*n - 1];
    if (r == 0)
        sp->listed_all = true;
    return r;
}

static int spool_load_one(void *state, uint64_t id, struct job *job)
{
    struct spool *sp = state;
    char name[32], why[256];

    snprintf(name, sizeof name, "%llu", (unsigned long long)id);
    if (!sp->trusted && id > sp->max_seen)
        sp->max_seen = id;
    if (load_job(sp, name, id, job, why, sizeof why) != 0) {
        /* Gone since it was listed (deleted after a load out of turn). */
        if (faccessat(sp->jobsfd, name, F_OK, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
            return -ENOENT;
        set_aside(sp, name, why);
        return -ENOENT;
    }
    return 0;
}

/* ---- per-job operations --------------------------------------------- */

static int open_job_dir(struct spool *sp, uint64_t id)
{
    char name[32];

    snprintf(name, sizeof name, "%llu", (unsigned long long)id);
    int fd = openat(sp->jobsfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int spool_update(void *state, const struct job *job)
{
    struct spool *sp = state;
    char *text;
    long len = jobfile_format(job, &text);

    if (len < 0)
        return (int)len;
    int fd = open_job_dir(sp, job->id);
    int r = fd < 0 ? fd : write_file_atomic(sp, fd, "job", text, (size_t)len, "spool.update");
    if (fd >= 0)
        close(fd);
    free(text);
    return r;
}

static int open_in_job(struct spool *sp, uint64_t id, const char *rel, int flags)
{
    char path[64];

    snprintf(path, sizeof path, "%llu/%s", (unsigned long long)id, rel);
    int fd = openat(sp->jobsfd, path, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
    return fd < 0 ? -errno : fd;
}

static int spool_append_log(void *state, uint64_t id, const char *line)
{
    struct spool *sp = state;
    /* The log is a record for people; the job file is the truth, so log
     * lines are not fsynced one by one. Each line is one write() with
     * O_APPEND, as before; the file stays open for the next line. */
    int r = spool_fault("spool.log", "append");
    if (r != 0)
        return r;
    pthread_mutex_lock(&sp->log_lock);
    struct spool_log_fd *slot = NULL, *lru = &sp->logs[0];
    for (size_t i = 0; i < SPOOL_LOG_FDS && !slot; i++) {
        if (sp->logs[i].fd >= 0 && sp->logs[i].id == id)
            slot = &sp->logs[i];
        else if (sp->logs[i].used < lru->used)
            lru = &sp->logs[i];
    }
    if (!slot) {
        int fd = open_in_job(sp, id, "log", O_WRONLY | O_APPEND);
        if (fd < 0) {
            pthread_mutex_unlock(&sp->log_lock);
            return fd;
        }
        if (lru->fd >= 0)
            close(lru->fd);
        slot = lru;
        *slot = (struct spool_log_fd){ .id = id, .fd = fd };
    }
    slot->used = ++sp->log_tick;
    r = fdio_write_all(slot->fd, line, strlen(line));
    if (r != 0) /* opened again for the next line */
        drop_log_fd(sp, id);
    pthread_mutex_unlock(&sp->log_lock);
    return r;
}

static int spool_open_page(void *state, uint64_t id, int page)
{
    char rel[32];

    snprintf(rel, sizeof rel, "pages/%03d.tif", page + 1);
    return open_in_job(state, id, rel, O_RDONLY);
}

static int spool_open_log(void *state, uint64_t id)
{
    return open_in_job(state, id, "log", O_RDONLY);
}

static int spool_page_path(void *state, uint64_t id, int page, char *out, size_t outlen)
{
    struct spool *sp = state;
    int n = snprintf(out, outlen, "%s/jobs/%llu/pages/%03d.tif", sp->root, (unsigned long long)id, page + 1);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* Renamed out of jobs/ first, so a crash mid-delete leaves either the
 * whole job or a tmp/ leftover that the next start removes. */
static int spool_remove(void *state, uint64_t id)
{
    struct spool *sp = state;
    char name[32], doomed[48];

    snprintf(name, sizeof name, "%llu", (unsigned long long)id);
    snprintf(doomed, sizeof doomed, "delete.%llu", (unsigned long long)id);
    int r = spool_fault("spool.remove", "start");
    if (r != 0)
        return r;
    pthread_mutex_lock(&sp->log_lock);
    drop_log_fd(sp, id);
    pthread_mutex_unlock(&sp->log_lock);
    if (renameat(sp->jobsfd, name, sp->tmpfd, doomed) != 0)
        return -errno;
    spool_fsync(sp, sp->jobsfd);
    spool_fault("spool.remove", "renamed"); /* the job is gone already: only a kill means anything */
    r = remove_tree(sp->tmpfd, doomed);
    if (r != 0)
        spool_log(sp, QUEUE_LOG_WARNING, "job %s: deleted, but tmp/%s could not be removed (%s)", name, doomed,
                  strerror(-r));
    return 0;
}

/* pages/NNN.tif.part is written and made durable, then renamed into place. */
static int spool_add_page(void *state, uint64_t id, int index, int src_fd, uint64_t max_bytes, uint64_t *bytes)
{
    struct spool *sp = state;
    char part[48], name[32];
    int pagesfd = open_in_job(sp, id, "pages", O_RDONLY | O_DIRECTORY);
    int fd = -1, r;

    if (pagesfd < 0)
        return pagesfd;
    snprintf(name, sizeof name, "%03d.tif", index + 1);
    snprintf(part, sizeof part, "%03d.tif.part", index + 1);
    unlinkat(pagesfd, part, 0);
    fd = openat(pagesfd, part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    r = fd < 0 ? -errno : fdio_copy(fd, src_fd, max_bytes, bytes);
    if (r == 0 && *bytes == 0)
        r = -EINVAL;
    if (r == 0)
        r = spool_fsync(sp, fd);
    if (fd >= 0 && close(fd) != 0 && r == 0)
        r = -errno;
    if (r == 0)
        r = spool_fault("spool.receive", "page_written");
    if (r == 0 && renameat2(pagesfd, part, pagesfd, name, RENAME_NOREPLACE) != 0)
        r = -errno;
    if (r != 0) {
        unlinkat(pagesfd, part, 0);
        close(pagesfd);
        return r;
    }
    r = spool_fault("spool.receive", "page_renamed");
    if (r == 0)
        r = spool_fsync(sp, pagesfd);
    if (r != 0)
        unlinkat(pagesfd, name, 0); /* not known durable: the page is not there */
    close(pagesfd);
    return r;
}

/* jobs/<id>/fax.pdf: the PDF of the pages, made on first use. A file that
 * does not end like a PDF (damaged outside faxfs) is dropped and made
 * again: the pages are the truth, this is only a copy of them. */
static int spool_cached_open(void *state, uint64_t id, const char *name)
{
    static const char tail[] = "%%EOF\n";
    char end[sizeof tail - 1];
    struct stat st;
    int fd = open_in_job(state, id, name, O_RDONLY);

    if (fd < 0)
        return fd;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)sizeof end &&
        pread(fd, end, sizeof end, st.st_size - (off_t)sizeof end) == (ssize_t)sizeof end &&
        memcmp(end, tail, sizeof end) == 0)
        return fd;
    close(fd);
    char rel[64];
    snprintf(rel, sizeof rel, "%llu/%s", (unsigned long long)id, name);
    unlinkat(((struct spool *)state)->jobsfd, rel, 0);
    spool_log(state, QUEUE_LOG_WARNING, "job %llu: %s was damaged; removed, it is made again from the job",
              (unsigned long long)id, name);
    return -ENOENT;
}

/* Written in tmp/ (emptied at start), made durable, then renamed into the
 * job directory: a crash leaves it whole or absent, never half-written. */
static int spool_cached_store(void *state, uint64_t id, const char *name, int (*fill)(void *arg, int fd),
                              void *arg)
{
    struct spool *sp = state;
    char tmp[64], rel[64];
    int fd = -1, rd = -1, r;

    pthread_mutex_lock(&sp->stage_lock);
    unsigned seq = ++sp->stage_seq;
    pthread_mutex_unlock(&sp->stage_lock);
    snprintf(tmp, sizeof tmp, "pdf.%ld.%u", (long)getpid(), seq);
    snprintf(rel, sizeof rel, "%llu/%s", (unsigned long long)id, name);
    fd = openat(sp->tmpfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    r = fill(arg, fd);
    if (r == 0)
        r = spool_fsync(sp, fd);
    if (r == 0)
        r = spool_fault("spool.pdf", "written");
    if (r == 0 && (rd = openat(sp->tmpfd, tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        r = -errno;
    if (r == 0 && renameat(sp->tmpfd, tmp, sp->jobsfd, rel) != 0)
        r = -errno; /* ENOENT: the job was deleted meanwhile */
    if (close(fd) != 0 && r == 0)
        r = -errno;
    if (r != 0) {
        unlinkat(sp->tmpfd, tmp, 0);
        if (rd >= 0)
            close(rd);
        return r;
    }
    return rd;
}

static int spool_pdf_open(void *state, uint64_t id)
{
    return spool_cached_open(state, id, "fax.pdf");
}

static int spool_pdf_store(void *state, uint64_t id, int (*fill)(void *arg, int fd), void *arg)
{
    return spool_cached_store(state, id, "fax.pdf", fill, arg);
}

/* jobs/<id>/report.pdf: the transmission report of a finished send job,
 * kept like fax.pdf (the job no longer changes once finished). */
static int spool_report_open(void *state, uint64_t id)
{
    return spool_cached_open(state, id, "report.pdf");
}

static int spool_report_store(void *state, uint64_t id, int (*fill)(void *arg, int fd), void *arg)
{
    return spool_cached_store(state, id, "report.pdf", fill, arg);
}

static int spool_get_paused(void *state, bool *paused)
{
    struct spool *sp = state;

    *paused = faccessat(sp->rootfd, "paused", F_OK, 0) == 0;
    return 0;
}

static int spool_set_paused(void *state, bool paused)
{
    struct spool *sp = state;

    if (paused) {
        int r = write_file_atomic(sp, sp->rootfd, "paused", "paused\n", 7, "spool.paused");
        return r;
    }
    if (unlinkat(sp->rootfd, "paused", 0) != 0 && errno != ENOENT)
        return -errno;
    return spool_fsync(sp, sp->rootfd);
}

static int spool_upload_open(void *state)
{
    struct spool *sp = state;
    int fd = openat(sp->tmpfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
        return fd >= 0 ? fd : -errno;
    /* Filesystems without O_TMPFILE: a named file, unlinked at once. */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/tmp/upload.XXXXXX", sp->root);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    unlink(path);
    return fd;
}

/* Draft documents: tmp/draft.<pid>.<n> (draft_files.h). */
static int spool_draft_create(void *state, char *token, size_t tokenlen)
{
    return draft_file_create(((struct spool *)state)->tmpfd, token, tokenlen);
}

static int spool_draft_open(void *state, const char *token)
{
    return draft_file_open(((struct spool *)state)->tmpfd, token);
}

static int spool_draft_remove(void *state, const char *token)
{
    return draft_file_remove(((struct spool *)state)->tmpfd, token);
}

/* ---- staging -------------------------------------------------------- */

static int spool_stage_open(void *state, struct queue_stage **out)
{
    struct spool *sp = state;
    struct queue_stage *st = calloc(1, sizeof *st);

    if (st == NULL)
        return -ENOMEM;
    st->sp = sp;
    st->dirfd = st->pagesfd = st->coversfd = -1;
    for (int tries = 0; tries < 100; tries++) {
        pthread_mutex_lock(&sp->stage_lock);
        unsigned seq = ++sp->stage_seq;
        pthread_mutex_unlock(&sp->stage_lock);
        snprintf(st->name, sizeof st->name, "stage.%ld.%u", (long)getpid(), seq);
        if (mkdirat(sp->tmpfd, st->name, 0700) == 0)
            break;
        if (errno != EEXIST) {
            int r = -errno;
            free(st);
            return r;
        }
    }
    st->dirfd = openat(sp->tmpfd, st->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fault = spool_fault("spool.stage", "opened");
    if (fault != 0 || st->dirfd < 0 || mkdirat(st->dirfd, "pages", 0700) != 0 ||
        (st->pagesfd = openat(st->dirfd, "pages", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int r = fault != 0 ? fault : -errno;
        if (st->dirfd >= 0)
            close(st->dirfd);
        remove_tree(sp->tmpfd, st->name);
        free(st);
        return r;
    }
    *out = st;
    return 0;
}

static int spool_stage_page(struct queue_stage *st, int index)
{
    char name[32];

    snprintf(name, sizeof name, "%03d.tif", index + 1);
    int r = spool_fault("spool.page", "create");
    if (r != 0)
        return r;
    int fd = openat(st->pagesfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (index + 1 > st->npages)
        st->npages = index + 1;
    return fd;
}

/* The first call makes STAGE/covers/ and must come alone; later calls may
 * come from several threads at once (distinct job_index). */
static int spool_stage_cover(struct queue_stage *st, size_t job_index)
{
    char name[32];

    if (st->coversfd < 0) {
        if (mkdirat(st->dirfd, "covers", 0700) != 0 ||
            (st->coversfd = openat(st->dirfd, "covers", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
            return -errno;
    }
    snprintf(name, sizeof name, "%zu.tif", job_index);
    int fd = openat(st->coversfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    /* Runs of covers may stage at once (the directory exists by then):
     * the count is raised atomically. */
    size_t want = job_index + 1, cur = __atomic_load_n(&st->ncovers, __ATOMIC_RELAXED);
    while (cur < want && !__atomic_compare_exchange_n(&st->ncovers, &cur, want, false, __ATOMIC_RELAXED,
                                                     __ATOMIC_RELAXED))
        ;
    return fd;
}

static void spool_stage_abort(struct queue_stage *st)
{
    if (st == NULL)
        return;
    if (st->coversfd >= 0)
        close(st->coversfd);
    close(st->pagesfd);
    close(st->dirfd);
    remove_tree(st->sp->tmpfd, st->name);
    free(st);
}

/* Makes every staged page durable; "spool.page.written" fires after each. */
static int sync_pages(struct queue_stage *st)
{
    char name[32];

    for (int i = st->ncovers > 0 ? 2 : 1; i <= st->npages; i++) {
        snprintf(name, sizeof name, "%03d.tif", i);
        int fd = openat(st->pagesfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        int r = spool_fsync(st->sp, fd);
        close(fd);
        if (r == 0)
            r = spool_fault("spool.page", "written");
        if (r != 0)
            return r;
    }
    return spool_fsync(st->sp, st->pagesfd);
}

/* sync false: made durable later, together with others (syncfs). */
static int write_new_file(const struct spool *sp, bool sync, int dirfd, const char *name, const char *data,
                          size_t len)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = fdio_write_all(fd, data, len);
    if (r == 0 && sync)
        r = spool_fsync(sp, fd);
    if (close(fd) != 0 && r == 0)
        r = -errno;
    return r;
}

/* ---- single jobs: group commit ------------------------------------- */

/* One job in spool_stage_commit waiting for a flush; on its caller's stack. */
struct spool_commit {
    struct queue_stage *st;
    uint64_t id;
    int result;
    bool renamed; /* jobs/<id> is its stage, renamed */
    bool taken;   /* in a batch being flushed (set under commit_lock) */
    bool done;    /* result is final (set under commit_lock) */
    struct spool_commit *next;
};

static int spool_syncfs(const struct spool *sp, int fd);

/* The first round of a flush: one syncfs() makes every staged file and
 * directory of every job in the batch durable. */
static int flush_sync(struct spool *sp)
{
    int r = spool_fault("spool.flush", "start");

    return r != 0 ? r : spool_syncfs(sp, sp->tmpfd);
}

/* The second round: each job whose files are durable (synced == 0) is
 * renamed into jobs/, then jobs/ fsynced once. A failed round fails every
 * job in it, and a job renamed but not known durable is taken back rather
 * than promised. Fills each result. */
static void flush_publish(struct spool *sp, struct spool_commit *batch, size_t n, int synced)
{
    char name[32];
    bool any = false;

    for (struct spool_commit *c = batch; c != NULL; c = c->next) {
        c->result = synced;
        if (c->result == 0)
            c->result = spool_fault("spool.create", "staged");
        snprintf(name, sizeof name, "%llu", (unsigned long long)c->id);
        if (c->result == 0 && renameat2(sp->tmpfd, c->st->name, sp->jobsfd, name, RENAME_NOREPLACE) != 0)
            c->result = -errno;
        if (c->result == 0) {
            c->renamed = any = true;
            c->result = spool_fault("spool.create", "renamed");
        }
    }
    int dr = any ? spool_fault("spool.flush", "renamed") : 0;
    if (any && dr == 0)
        dr = spool_fsync(sp, sp->jobsfd);
    for (struct spool_commit *c = batch; c != NULL; c = c->next) {
        if (c->renamed && (c->result != 0 || dr != 0)) {
            snprintf(name, sizeof name, "%llu", (unsigned long long)c->id);
            renameat(sp->jobsfd, name, sp->tmpfd, c->st->name);
            c->renamed = false;
            if (c->result == 0)
                c->result = dr;
        }
    }
    if (synced != 0 || dr != 0)
        spool_log(sp, QUEUE_LOG_ERR, "spool %s: %zu new job%s could not be made durable (%s); none of them was "
                  "stored, their submitters were told", sp->root, n, n == 1 ? "" : "s",
                  strerror(-(synced ? synced : dr)));
}

/* Flushes the callers waiting now (the caller among them) as one batch.
 * The two rounds are pipelined: the next batch's syncfs() may run while
 * this one is renamed and jobs/ fsynced. Called and returns with
 * commit_lock held. */
static void flush_waiting(struct spool *sp)
{
    struct spool_commit *batch = NULL, *c = sp->waiting, *next;
    size_t n = 0;

    for (; c != NULL; c = next, n++) { /* oldest first: ids appear in order */
        next = c->next;
        c->next = batch;
        c->taken = true;
        batch = c;
    }
    sp->waiting = NULL;
    sp->syncing = true;
    pthread_mutex_unlock(&sp->commit_lock);
    int synced = flush_sync(sp);
    pthread_mutex_lock(&sp->commit_lock);
    sp->syncing = false;
    pthread_cond_broadcast(&sp->commit_done); /* the next batch may sync now */
    while (sp->publishing)
        pthread_cond_wait(&sp->commit_done, &sp->commit_lock);
    sp->publishing = true;
    pthread_mutex_unlock(&sp->commit_lock);
    flush_publish(sp, batch, n, synced);
    pthread_mutex_lock(&sp->commit_lock);
    for (c = batch; c != NULL; c = next) {
        next = c->next; /* c belongs to its caller once done is set */
        c->done = true;
    }
    sp->publishing = false;
    pthread_cond_broadcast(&sp->commit_done);
}

/* Leader and followers: the caller joins the waiting list; whoever finds
 * its job still waiting and no syncfs() under way takes the whole list and
 * flushes it, while newer callers gather for the next one. Returns once
 * the caller's own job is durable (0) or known not to be stored (-errno). */
static int commit_together(struct spool *sp, struct spool_commit *me)
{
    pthread_mutex_lock(&sp->commit_lock);
    me->next = sp->waiting;
    sp->waiting = me;
    while (!me->done) {
        if (!me->taken && !sp->syncing)
            flush_waiting(sp);
        else
            pthread_cond_wait(&sp->commit_done, &sp->commit_lock);
    }
    pthread_mutex_unlock(&sp->commit_lock);
    return me->result;
}

/* Writes the job and log files into the stage (not fsynced: the flush makes
 * them durable together with the pages), then waits for the flush. Runs on
 * any thread without the engine lock (stage_commit_unlocked). */
static int spool_stage_commit(struct queue_stage *st, const struct job *job, const char *log_text)
{
    struct spool *sp = st->sp;
    struct spool_commit me = {.st = st, .id = job->id};
    char *text = NULL;
    long len = jobfile_format(job, &text);
    int r = len < 0 ? (int)len : 0;

    if (r == 0)
        r = write_new_file(sp, false, st->dirfd, "job", text, (size_t)len);
    if (r == 0)
        r = write_new_file(sp, false, st->dirfd, "log", log_text, strlen(log_text));
    for (int i = 1; r == 0 && i <= st->npages; i++)
        r = spool_fault("spool.page", "written");
    free(text);
    if (r == 0)
        r = commit_together(sp, &me);
    if (r != 0) {
        spool_stage_abort(st);
        return r;
    }
    close(st->pagesfd);
    close(st->dirfd);
    free(st);
    return 0;
}

/* ---- broadcast groups ----------------------------------------------- */

static int spool_reserve_ids(void *state, size_t n, uint64_t *first)
{
    if (n == 0)
        return -EINVAL;
    return spool_take_ids(state, n, first);
}

/* Everything written so far on the spool's filesystem made durable in one
 * call: the staged jobs of a group are many small files, and one syncfs()
 * costs what one fsync() does. */
static int spool_syncfs(const struct spool *sp, int fd)
{
    if (sp->env.no_fsync)
        return 0;
    return syncfs(fd) == 0 ? 0 : -errno;
}

/* One job of a group in STAGE/g/<id>/: pages hard-linked to STAGE/pages/,
 * the first to STAGE/covers/<index>.tif when the jobs have their own. */
static int stage_group_job(struct queue_stage *st, int gfd, size_t index, const struct job *job, const char *log_text)
{
    struct spool *sp = st->sp;
    char name[32], page[32];
    char *text = NULL;
    int jfd = -1, pfd = -1, r = 0;

    snprintf(name, sizeof name, "%llu", (unsigned long long)job->id);
    if (mkdirat(gfd, name, 0700) != 0 || (jfd = openat(gfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        mkdirat(jfd, "pages", 0700) != 0 || (pfd = openat(jfd, "pages", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        r = -errno;
    for (int i = 1; r == 0 && i <= st->npages; i++) {
        snprintf(page, sizeof page, "%03d.tif", i);
        if (i == 1 && st->ncovers > 0) {
            char cover[32];
            snprintf(cover, sizeof cover, "%zu.tif", index);
            if (linkat(st->coversfd, cover, pfd, page, 0) != 0)
                r = -errno;
        } else if (linkat(st->pagesfd, page, pfd, page, 0) != 0) {
            r = -errno;
        }
    }
    long len = r == 0 ? jobfile_format(job, &text) : 0;
    if (len < 0)
        r = (int)len;
    /* The files are made durable together later. */
    if (r == 0)
        r = write_new_file(sp, false, jfd, "job", text, (size_t)len);
    if (r == 0)
        r = write_new_file(sp, false, jfd, "log", log_text, strlen(log_text));
    free(text);
    if (pfd >= 0)
        close(pfd);
    if (jfd >= 0)
        close(jfd);
    return r;
}

/* Moves the jobs of a committed group (STAGE/g/<id>) into jobs/; an id
 * already there is one moved before a crash. */
static int publish_group(struct spool *sp, int stagefd, const char *stage, bool recovering)
{
    int gfd = openat(stagefd, "g", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = gfd < 0 ? NULL : fdopendir(gfd);
    struct dirent *e;
    int r = 0, moved = 0;

    if (d == NULL) {
        if (gfd >= 0)
            close(gfd);
        return -errno;
    }
    while ((e = readdir(d)) != NULL) {
        bool exact;
        if (e->d_name[0] == '.' || (spool_name_id(e->d_name, &exact), !exact))
            continue;
        if (renameat2(gfd, e->d_name, sp->jobsfd, e->d_name, RENAME_NOREPLACE) != 0) {
            if (errno != EEXIST && r == 0)
                r = -errno;
            continue;
        }
        moved++;
        if (!recovering && moved == 1 && r == 0)
            r = spool_fault("spool.group", "first_renamed");
    }
    closedir(d);
    int fr = spool_fsync(sp, sp->jobsfd);
    if (r == 0)
        r = fr;
    if (recovering)
        spool_log(sp, r == 0 ? QUEUE_LOG_NOTICE : QUEUE_LOG_ERR,
                  "spool %s: broadcast group committed in tmp/%s before the server stopped: %d job%s moved into jobs/%s",
                  sp->root, stage, moved, moved == 1 ? "" : "s", r == 0 ? "" : " (some could not be moved)");
    return r;
}

/* At start, before tmp/ is emptied: a group whose commit record was
 * durable is completed (every job moved into jobs/); one without is
 * removed with the rest of tmp/. */
static void recover_groups(struct spool *sp)
{
    DIR *d = fdopendir(dup(sp->tmpfd));
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "stage.", 6) != 0)
            continue;
        int fd = openat(sp->tmpfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (faccessat(fd, "commit", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            publish_group(sp, fd, e->d_name, true);
        close(fd);
    }
    rewinddir(d); /* the offset is shared with tmpfd, which clean_tmp reads next */
    closedir(d);
}

static int spool_group_commit(struct queue_stage *st, const struct job *jobs, size_t n, char *const *log_texts)
{
    struct spool *sp = st->sp;
    int gfd = -1, r = 0;

    if (n == 0 || (st->ncovers > 0 && st->ncovers != n))
        r = -EINVAL; /* covers, when there are any, one per job */
    /* The shared pages once: fsync each, as for a single job (the covers
     * are made durable with the jobs' files below). */
    if (r == 0)
        r = sync_pages(st);
    if (r == 0 && (mkdirat(st->dirfd, "g", 0700) != 0 ||
                   (gfd = openat(st->dirfd, "g", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0))
        r = -errno;
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = stage_group_job(st, gfd, i, &jobs[i], log_texts[i]);
        if (r == 0 && i == n / 2)
            r = spool_fault("spool.group", "half_staged");
    }
    /* Every staged file and directory durable in one round. */
    if (r == 0)
        r = spool_syncfs(sp, st->dirfd);
    if (r == 0)
        r = spool_fault("spool.group", "staged");
    /* The commit record: from here on, a start completes the group. */
    if (r == 0)
        r = write_new_file(sp, true, st->dirfd, "commit", "group\n", 6);
    if (r == 0)
        r = spool_fsync(sp, st->dirfd);
    if (r == 0)
        r = spool_fault("spool.group", "committed");
    if (r == 0) {
        r = publish_group(sp, st->dirfd, st->name, false);
        if (r != 0) {
            /* Committed on disk: the next start finishes the moves; the
             * jobs exist, so it is not reported as a failure here. */
            spool_log(sp, QUEUE_LOG_ERR, "spool %s: broadcast group of job %llu: moving into jobs/ failed (%s); "
                      "the next start completes it", sp->root, (unsigned long long)jobs[0].id, strerror(-r));
            r = 0;
            close(gfd);
            if (st->coversfd >= 0)
                close(st->coversfd);
            close(st->pagesfd);
            close(st->dirfd);
            free(st);
            return 0;
        }
    }
    if (gfd >= 0)
        close(gfd);
    /* Done or failed: the stage (shared page names, commit record, any
     * half-built job) goes; the committed jobs keep their page links. */
    spool_stage_abort(st);
    return r;
}

/* ---- the counter, for copies between stores ------------------------- */

static int spool_peek_next_id(void *state, uint64_t *id)
{
    struct spool *sp = state;
    uint64_t v = sp->next_id > sp->max_seen ? sp->next_id : sp->max_seen + 1;

    *id = v < QUEUE_FIRST_JOB_ID ? QUEUE_FIRST_JOB_ID : v;
    return 0;
}

static int spool_raise_next_id(void *state, uint64_t min)
{
    struct spool *sp = state;
    uint64_t have;
    char buf[32];

    spool_peek_next_id(state, &have);
    if (have >= min)
        return 0;
    int len = snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)min);
    int r = write_file_atomic(sp, sp->rootfd, "next_id", buf, (size_t)len, "spool.next_id");
    if (r == 0) {
        sp->next_id = min;
        sp->reserved = min; /* the file holds min now: ids from it on are not reserved */
    }
    return r;
}

const struct queue_backend queue_backend_spool = {
    .name = "spool",
    .open = spool_open,
    .close = spool_close,
    .walk = spool_walk,
    .list_ids = spool_list_ids,
    .load_one = spool_load_one,
    .ids_trusted = spool_ids_trusted,
    .next_id = spool_next_id,
    .update = spool_update,
    .append_log = spool_append_log,
    .open_page = spool_open_page,
    .open_log = spool_open_log,
    .page_path = spool_page_path,
    .add_page = spool_add_page,
    .remove = spool_remove,
    .get_paused = spool_get_paused,
    .set_paused = spool_set_paused,
    .upload_open = spool_upload_open,
    .draft_create = spool_draft_create,
    .draft_open = spool_draft_open,
    .draft_remove = spool_draft_remove,
    .pdf_open = spool_pdf_open,
    .pdf_store = spool_pdf_store,
    .report_open = spool_report_open,
    .report_store = spool_report_store,
    .stage_open = spool_stage_open,
    .stage_page = spool_stage_page,
    .stage_commit = spool_stage_commit,
    .stage_abort = spool_stage_abort,
    .reserve_ids = spool_reserve_ids,
    .group_commit = spool_group_commit,
    .peek_next_id = spool_peek_next_id,
    .raise_next_id = spool_raise_next_id,
    .stage_cover = spool_stage_cover,
    .stage_commit_unlocked = true,
};
