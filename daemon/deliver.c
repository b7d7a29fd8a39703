/*
 * deliver.c - the delivery runner: one thread that routes received faxes
 * whose call has ended and works through their delivery records (persist,
 * then act, then persist the outcome). Actions are a table: folder, print,
 * command, mail. Anything that touches a user's directory or runs a
 * program does so in a child with the privileges of the user it is for.
 */
#include "daemon/deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon/mail_message.h"
#include "daemon/notify.h"
#include "daemon/sendmail.h"
#include "modem/tiff_join.h"

/* ---- names to ids, at start ---- */

static int user_ids(const char *name, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || !res)
        return -ENOENT;
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return 0;
}

static int group_id(const char *name, gid_t *gid)
{
    struct group gr, *res = NULL;
    char buf[8192];
    if (getgrnam_r(name, &gr, buf, sizeof buf, &res) != 0 || !res)
        return -ENOENT;
    *gid = gr.gr_gid;
    return 0;
}

int deliver_resolve_ids(const struct receive_routes *routes, struct deliver_ids *ids, char *why, size_t whylen)
{
    for (int i = 0; routes && i < routes->n; i++) {
        const struct receive_route *r = &routes->route[i];
        struct deliver_ids *d = &ids[i];
        memset(d, 0, sizeof *d);
        const char *bad = NULL, *key = NULL;
        if (r->owner[0] && user_ids(r->owner, &d->owner_uid, &d->owner_gid) != 0)
            bad = r->owner, key = "owner";
        d->has_owner = r->owner[0] != '\0';
        if (!bad && r->group[0] && group_id(r->group, &d->group_gid) != 0)
            bad = r->group, key = "group";
        d->has_group = r->group[0] != '\0';
        const char *fo = r->folder_owner[0] ? r->folder_owner : r->folder[0] ? r->owner : "";
        if (!bad && fo[0] && user_ids(fo, &d->folder_uid, &d->folder_gid) != 0)
            bad = fo, key = "folder-owner";
        d->has_folder_owner = fo[0] != '\0';
        if (bad) {
            snprintf(why, whylen, "receive route \"%s\": %s \"%s\" does not exist on this system; create it or fix the "
                     "name", r->name, key, bad);
            return -ENOENT;
        }
    }
    return 0;
}

/* ---- the runner ---- */

struct deliverer {
    struct queue *q;
    struct deliver_config cfg;
    pthread_t thread;
    pthread_mutex_t lock; /* protects wake_flag, stopping */
    pthread_cond_t wake;
    bool wake_flag, stopping;
    int64_t started;      /* faxes finished long before this are not routed (an upgrade) */
};

static void dlog(struct deliverer *d, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void dlog(struct deliverer *d, int level, const char *fmt, ...)
{
    char buf[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (d->cfg.log)
        d->cfg.log(level, buf);
}

/* Control characters out: a caller's CSI or number ends up in logs and errors. */
static void clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static const struct receive_route *route_named(const struct deliverer *d, const char *name, int *index)
{
    for (int i = 0; d->cfg.routes && i < d->cfg.routes->n; i++)
        if (strcmp(d->cfg.routes->route[i].name, name) == 0) {
            *index = i;
            return &d->cfg.routes->route[i];
        }
    return NULL;
}

/* The fax as one PDF (the queue makes it once and keeps it). */
static int pdf_fd(struct deliverer *d, const struct job *j, char *why, size_t whylen)
{
    int fd = queue_open_pdf(d->q, j->id);
    if (fd < 0)
        snprintf(why, whylen, "the fax's PDF cannot be made: %s", strerror(-fd));
    return fd;
}

/* The fax as one TIFF: the pages joined into a multi-page TIFF in the
 * scratch directory, opened and unlinked (only the fd remains). */
static int tiff_fd(struct deliverer *d, const struct job *j, char *why, size_t whylen)
{
    int n = j->page_count, fd = -1, r = 0;
    if (n <= 0) {
        snprintf(why, whylen, "the fax has no pages");
        return -ENODATA;
    }
    int *fds = calloc((size_t)n, sizeof *fds);
    char (*paths)[40] = calloc((size_t)n, sizeof *paths);
    const char **pp = calloc((size_t)n, sizeof *pp);
    if (!fds || !paths || !pp) {
        r = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    for (int i = 0; i < n; i++) {
        if ((fds[i] = queue_open_page(d->q, j->id, i)) < 0) {
            r = fds[i];
            snprintf(why, whylen, "page %d cannot be read from the spool: %s", i + 1, strerror(-r));
            goto out;
        }
        snprintf(paths[i], sizeof paths[i], "/proc/self/fd/%d", fds[i]);
        pp[i] = paths[i];
    }
    static unsigned seq;
    char out[4096];
    snprintf(out, sizeof out, "%s/deliver-%ld-%llu-%u.tif", d->cfg.scratch_dir, (long)getpid(),
             (unsigned long long)j->id, __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
    char err[256] = "";
    if ((r = tiff_join_pages(out, pp, n, 1, err, sizeof err)) < 0) {
        snprintf(why, whylen, "the pages cannot be joined: %s", err);
        unlink(out);
        goto out;
    }
    fd = open(out, O_RDONLY | O_CLOEXEC);
    r = fd < 0 ? -errno : 0;
    unlink(out);
    if (r < 0)
        snprintf(why, whylen, "the joined pages cannot be opened: %s", strerror(-r));
out:
    for (int i = 0; fds && i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    free(paths);
    free(pp);
    if (r == -ENOMEM)
        snprintf(why, whylen, "out of memory");
    return r < 0 ? r : fd;
}

/* Children: what a child reports through its pipe when a step fails. */
struct child_report {
    int step;
    int err;
};
enum { STEP_NONE, STEP_USER, STEP_DIR, STEP_CREATE, STEP_WRITE, STEP_SYNC, STEP_RENAME, STEP_EXEC };
static const char *const step_text[] = {
    [STEP_NONE] = "failed", [STEP_USER] = "cannot take on the user", [STEP_DIR] = "cannot open the folder",
    [STEP_CREATE] = "cannot create the file", [STEP_WRITE] = "cannot write the file",
    [STEP_SYNC] = "cannot flush the file to disk", [STEP_RENAME] = "cannot put the file in place",
    [STEP_EXEC] = "cannot run the program",
};

static void child_fail(int pfd, int step)
{
    struct child_report rep = {step, errno};
    ssize_t w = write(pfd, &rep, sizeof rep);
    (void)w;
    _exit(111);
}

/* In a child: become uid/gid, for good. Async-signal-safe calls only. */
static void child_become(int pfd, uid_t uid, gid_t gid)
{
    if (geteuid() != 0) {
        if (uid != geteuid()) {
            errno = EPERM;
            child_fail(pfd, STEP_USER);
        }
        return;
    }
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        child_fail(pfd, STEP_USER);
    if (setuid(0) == 0 && uid != 0) { /* must not be able to come back */
        errno = EPERM;
        child_fail(pfd, STEP_USER);
    }
}

struct folder_job {
    const char *dir, *tmp, *name;
    int doc_fd;
    mode_t mode;
};

/* In a child, as the folder's owner: a temp file beside the target,
 * written whole, flushed, then renamed over the name, so readers see the
 * old file or the new one and never half of one. */
static void child_write_folder(int pfd, const struct folder_job *f)
{
    int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        child_fail(pfd, STEP_DIR);
    int fd = openat(dfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        child_fail(pfd, STEP_CREATE);
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(f->doc_fd, buf, sizeof buf, off);
        if (n < 0)
            child_fail(pfd, STEP_WRITE);
        if (n == 0)
            break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(fd, buf + done, (size_t)(n - done));
            if (w < 0) {
                int e = errno;
                unlinkat(dfd, f->tmp, 0);
                errno = e;
                child_fail(pfd, STEP_WRITE);
            }
            done += w;
        }
        off += n;
    }
    if (fchmod(fd, f->mode) != 0 || fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlinkat(dfd, f->tmp, 0);
        errno = e;
        child_fail(pfd, STEP_SYNC);
    }
    if (renameat(dfd, f->tmp, dfd, f->name) != 0) {
        int e = errno;
        unlinkat(dfd, f->tmp, 0);
        errno = e;
        child_fail(pfd, STEP_RENAME);
    }
    (void)fsync(dfd);
    _exit(0);
}

static bool is_stopping(struct deliverer *d)
{
    pthread_mutex_lock(&d->lock);
    bool s = d->stopping;
    pthread_mutex_unlock(&d->lock);
    return s;
}

/* Waits for pid up to the time limit, or until the daemon stops (then
 * kills it: the try is made again at the next start); returns its
 * status, or -ETIMEDOUT. */
static int wait_child(struct deliverer *d, pid_t pid)
{
    int limit_ms = (d->cfg.timeout_seconds > 0 ? d->cfg.timeout_seconds : 120) * 1000;
    int st;
    for (int waited = 0;; waited += 20) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (waited >= limit_ms || is_stopping(d)) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -ETIMEDOUT;
        }
        usleep(20 * 1000);
    }
}

/* Runs what a child does (folder write or exec), reports the outcome in why. */
struct child_spec {
    uid_t uid;
    gid_t gid;
    bool drop;                 /* become uid/gid (when root) */
    const struct folder_job *folder; /* or: */
    char *const *argv;
    char *const *envp;
    int stdin_fd;              /* -1: /dev/null */
};

static enum delivery_try run_child(struct deliverer *d, const struct child_spec *c, char *why, size_t whylen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "cannot make a pipe: %s", strerror(errno));
        return DELIVERY_TRY_TEMPORARY;
    }
    int devnull = c->stdin_fd < 0 ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (c->drop)
            child_become(p[1], c->uid, c->gid);
        if (c->folder)
            child_write_folder(p[1], c->folder);
        int in = c->stdin_fd >= 0 ? c->stdin_fd : devnull;
        if (in < 0 || dup2(in, 0) < 0 || lseek(0, 0, SEEK_SET) < 0) {
            if (in >= 0 && errno == ESPIPE)
                errno = 0;
            if (errno)
                child_fail(p[1], STEP_EXEC);
        }
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) {
            dup2(nul, 1);
            dup2(nul, 2);
        }
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC); /* p[1] closes at exec: EOF means it ran */
        execve(c->argv[0], c->argv, c->envp);
        child_fail(p[1], STEP_EXEC);
    }
    close(p[1]);
    if (devnull >= 0)
        close(devnull);
    if (pid < 0) {
        close(p[0]);
        snprintf(why, whylen, "cannot fork: %s", strerror(errno));
        return DELIVERY_TRY_TEMPORARY;
    }
    struct child_report rep = {0, 0};
    struct pollfd pf = {p[0], POLLIN, 0};
    int limit_ms = (d->cfg.timeout_seconds > 0 ? d->cfg.timeout_seconds : 120) * 1000;
    ssize_t got = 0;
    for (int waited = 0; waited < limit_ms && !is_stopping(d); waited += 100) {
        int pr = poll(&pf, 1, 100);
        if (pr > 0) {
            got = read(p[0], &rep, sizeof rep);
            break;
        }
    }
    close(p[0]);
    int st = wait_child(d, pid);
    if (got == (ssize_t)sizeof rep) {
        snprintf(why, whylen, "%s: %s", step_text[rep.step < 0 || rep.step > STEP_EXEC ? 0 : rep.step],
                 strerror(rep.err));
        return DELIVERY_TRY_TEMPORARY;
    }
    if (st == -ETIMEDOUT) {
        snprintf(why, whylen, "ran longer than %d s and was killed", limit_ms / 1000);
        return DELIVERY_TRY_TEMPORARY;
    }
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (st >= 0 && WIFSIGNALED(st))
            snprintf(why, whylen, "ended by signal %d", WTERMSIG(st));
        else
            snprintf(why, whylen, "exit status %d", st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return DELIVERY_TRY_TEMPORARY;
    }
    return DELIVERY_TRY_OK;
}

/* Who runs programs for a fax: its owner when that is not root, else nobody. */
static void program_user(const struct job *j, uid_t *uid, gid_t *gid)
{
    *uid = j->owner_uid;
    *gid = j->owner_gid;
    if (*uid == 0 && user_ids("nobody", uid, gid) != 0) {
        *uid = 65534;
        *gid = 65534;
    }
}

struct action_ctx {
    struct deliverer *d;
    const struct job *j;
    int index;
    const struct job_delivery *rec;
    const struct receive_route *route; /* NULL when the route is no longer configured */
    const struct deliver_ids *ids;
    int doc_fd;
};

/* One file of the fax in the folder, in one format. */
static enum delivery_try write_folder_file(struct action_ctx *a, const char *ext, char *why, size_t whylen)
{
    const struct receive_route *r = a->route;
    char name[256], tmp[300];
    if (receive_route_file_name(r->folder_name, a->j, ext, name, sizeof name) != 0) {
        snprintf(why, whylen, "the file name from folder-name is too long; shorten the template");
        return DELIVERY_TRY_PERMANENT;
    }
    /* Unique per try: a temp file left by a killed try never blocks the next. */
    static unsigned seq;
    snprintf(tmp, sizeof tmp, ".%s.tmp-%ld-%u", name, (long)getpid(), __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
    struct folder_job f = {
        .dir = a->rec->target, .tmp = tmp, .name = name, .doc_fd = a->doc_fd,
        .mode = (mode_t)(r->folder_mode >= 0 ? r->folder_mode : RECEIVE_ROUTE_DEFAULT_MODE),
    };
    struct child_spec c = {
        .uid = a->ids->folder_uid, .gid = a->ids->folder_gid, .drop = true, .folder = &f, .stdin_fd = -1,
    };
    enum delivery_try t = run_child(a->d, &c, why, whylen);
    if (t == DELIVERY_TRY_OK)
        snprintf(why, whylen, "%s/%s", a->rec->target, name);
    return t;
}

/* PDF, TIFF or both (each its own file, the same name but the extension). */
static enum delivery_try act_folder(struct action_ctx *a, char *why, size_t whylen)
{
    int formats = a->route->folder_format ? a->route->folder_format : ROUTE_FORMAT_PDF;
    enum delivery_try t = DELIVERY_TRY_OK;
    if (formats & ROUTE_FORMAT_PDF)
        t = write_folder_file(a, ".pdf", why, whylen);
    if (t == DELIVERY_TRY_OK && (formats & ROUTE_FORMAT_TIFF)) {
        int pdf = a->doc_fd;
        if ((a->doc_fd = tiff_fd(a->d, a->j, why, whylen)) < 0) {
            a->doc_fd = pdf;
            return DELIVERY_TRY_TEMPORARY;
        }
        t = write_folder_file(a, ".tif", why, whylen);
        close(a->doc_fd);
        a->doc_fd = pdf;
    }
    return t;
}

static const char *const child_env_base[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C",
};
#define NBASE (sizeof child_env_base / sizeof child_env_base[0])

/* The hook's FAXFS_* variables, plus the called number and the route. */
static int fax_environment(const struct job *j, char (*vars)[256], int max, char **envp)
{
    int k = 0;
    for (size_t i = 0; i < NBASE; i++)
        envp[k++] = (char *)child_env_base[i];
    int nv = (int)notify_environment(j, NOTIFY_RECEIVED, vars, (size_t)max - 2);
    char called[JOB_NUMBER_MAX], route[JOB_ROUTE_MAX];
    snprintf(called, sizeof called, "%s", j->called_number);
    snprintf(route, sizeof route, "%s", j->route);
    clean(called);
    clean(route);
    snprintf(vars[nv++], 256, "FAXFS_CALLED_NUMBER=%s", called);
    snprintf(vars[nv++], 256, "FAXFS_ROUTE=%s", route);
    for (int i = 0; i < nv; i++)
        envp[k++] = vars[i];
    envp[k] = NULL;
    return k;
}

static enum delivery_try act_print(struct action_ctx *a, char *why, size_t whylen)
{
    const char *cmd = a->d->cfg.print_command && *a->d->cfg.print_command ? a->d->cfg.print_command : "lp -d";
    char words[512];
    char *argv[34];
    int n = 0;
    snprintf(words, sizeof words, "%s", cmd);
    for (char *save = NULL, *w = strtok_r(words, " \t", &save); w && n < 32; w = strtok_r(NULL, " \t", &save))
        argv[n++] = w;
    argv[n++] = (char *)a->rec->target;
    argv[n] = NULL;
    char path[4096];
    if (argv[0][0] != '/') { /* execve wants a path: look in the fixed PATH of children */
        static const char *const dirs[] = { "/usr/local/bin", "/usr/bin", "/bin" };
        for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dirs[i], argv[0]);
            if (access(path, X_OK) == 0) {
                argv[0] = path;
                break;
            }
        }
    }
    char vars[32][256];
    char *envp[NBASE + 33];
    fax_environment(a->j, vars, 32, envp);
    /* A daemon that is not root prints as itself. */
    struct child_spec c = { .drop = geteuid() == 0, .argv = argv, .envp = envp, .stdin_fd = a->doc_fd };
    program_user(a->j, &c.uid, &c.gid);
    return run_child(a->d, &c, why, whylen);
}

static enum delivery_try act_command(struct action_ctx *a, char *why, size_t whylen)
{
    char *argv[] = {"/bin/sh", "-c", (char *)a->route->command, NULL};
    char vars[32][256];
    char *envp[NBASE + 33];
    fax_environment(a->j, vars, 32, envp);
    /* Like the notify hook: the daemon's user, the administrator's own command. */
    struct child_spec c = { .drop = false, .argv = argv, .envp = envp, .stdin_fd = a->doc_fd };
    return run_child(a->d, &c, why, whylen);
}

/* The fax as a PDF attachment of a MIME message (daemon/mail_message.c),
 * handed to sendmail with the route's addresses as recipients. The
 * Message-ID is the delivery's own, the same on every try. */
static enum delivery_try act_mail(struct action_ctx *a, char *why, size_t whylen)
{
    char host[256] = "localhost", msgid[MAIL_MESSAGE_ID_MAX], subject[160], caller[JOB_NUMBER_MAX];
    char text[1024], fname[64];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    mail_message_id(msgid, sizeof msgid, a->j->id, a->index + 1, host);
    snprintf(caller, sizeof caller, "%s", a->j->caller_id[0] ? a->j->caller_id : "an unknown caller");
    snprintf(subject, sizeof subject, "Fax %llu from %s (%d page%s)", (unsigned long long)a->j->id, caller,
             a->j->page_count, a->j->page_count == 1 ? "" : "s");
    snprintf(text, sizeof text,
             "Fax %llu: %d page%s from %s%s%s%s%s%s, received %s.\n"
             "The fax is attached as a PDF; it is also under the faxfs mount: received/%llu/.\n",
             (unsigned long long)a->j->id, a->j->page_count, a->j->page_count == 1 ? "" : "s", caller,
             a->j->remote_id[0] ? " (\"" : "", a->j->remote_id, a->j->remote_id[0] ? "\")" : "",
             a->j->called_number[0] ? " to " : "", a->j->called_number, "", (unsigned long long)a->j->id);
    snprintf(fname, sizeof fname, "fax-%llu.pdf", (unsigned long long)a->j->id);
    char targets[JOB_DELIVERY_TARGET_MAX];
    const char *rcpt[32];
    size_t n = 0;
    snprintf(targets, sizeof targets, "%s", a->rec->target);
    for (char *save = NULL, *w = strtok_r(targets, ",", &save); w && n < 32; w = strtok_r(NULL, ",", &save))
        rcpt[n++] = w;
    struct mail_attachment att = {.content_type = "application/pdf", .filename = fname, .fd = a->doc_fd};
    struct mail_message m = {
        .to = rcpt, .nto = n, .subject = subject, .message_id = msgid, .text = text,
        .attachments = &att, .nattachments = 1,
    };
    int fd = memfd_create("faxfs-delivery-mail", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot stage the message: %s", strerror(errno));
        return DELIVERY_TRY_TEMPORARY;
    }
    if (mail_message_write(&m, fd, why, whylen) < 0) {
        close(fd);
        return DELIVERY_TRY_PERMANENT; /* a refused address or header: the same again fails again */
    }
    struct sendmail_config sc = {
        .path = a->d->cfg.sendmail, .timeout_seconds = a->d->cfg.timeout_seconds,
        .run_as = a->d->cfg.sendmail_run_as, .uid = a->d->cfg.sendmail_uid, .gid = a->d->cfg.sendmail_gid,
    };
    enum sendmail_result r = sendmail_deliver(&sc, NULL, rcpt, n, fd, why, whylen);
    close(fd);
    return r == SENDMAIL_OK ? DELIVERY_TRY_OK : r == SENDMAIL_PERMANENT ? DELIVERY_TRY_PERMANENT
                                                                        : DELIVERY_TRY_TEMPORARY;
}

/* The addresses of a receipt record (comma-separated in its target), cut
 * in place in targets; returns how many went into rcpt. */
static size_t receipt_addresses(const struct job_delivery *rec, char targets[JOB_DELIVERY_TARGET_MAX],
                                const char *rcpt[JOB_NOTIFY_ADDRESSES_MAX])
{
    size_t n = 0;
    snprintf(targets, JOB_DELIVERY_TARGET_MAX, "%s", rec->target);
    for (char *save = NULL, *w = strtok_r(targets, ",", &save); w && n < JOB_NOTIFY_ADDRESSES_MAX;
         w = strtok_r(NULL, ",", &save))
        rcpt[n++] = w;
    return n;
}

/* The receipt of a send job (docs/receipts.md): its transmission report
 * (and, as notify_attach asks, the fax) mailed to the job's notify
 * addresses. The Message-ID is the delivery's own, the same on every try. */
static enum delivery_try act_receipt(struct deliverer *d, const struct job *j, int index,
                                     const struct job_delivery *rec, char *why, size_t whylen)
{
    char host[256] = "localhost", msgid[MAIL_MESSAGE_ID_MAX], subject[512], text[2048], error[JOB_ERROR_TEXT_MAX + 40];
    char report_name[48], fax_name[48], number[JOB_NUMBER_MAX], name[JOB_TEXT_MAX];
    const char *result = job_status_name(j->status);
    struct mail_attachment att[2];
    size_t natt = 0;
    int report = -1, fax = -1;
    enum delivery_try t = DELIVERY_TRY_TEMPORARY;

    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    mail_message_id(msgid, sizeof msgid, j->id, index + 1, host);
    snprintf(number, sizeof number, "%s", j->recipient_number);
    snprintf(name, sizeof name, "%s", j->recipient_name);
    clean(number);
    clean(name);
    if (j->error_code[0])
        snprintf(error, sizeof error, "%s: %s", j->error_code, j->error_text);
    else
        error[0] = '\0';
    clean(error);
    snprintf(subject, sizeof subject, "Fax %llu to %s%s%s%s: %s%s%s (%d of %d page%s sent)",
             (unsigned long long)j->id, name, name[0] ? " (" : "", number, name[0] ? ")" : "", result,
             j->error_code[0] ? ", " : "", j->error_code, j->pages_sent, j->page_count, j->page_count == 1 ? "" : "s");
    snprintf(text, sizeof text,
             "Fax %llu to %s%s%s%s: %s.\n%s%s"
             "Pages sent: %d of %d; attempts: %d.\n"
             "The transmission report is attached as a PDF; it is also under the faxfs mount: "
             "history/%llu/report.pdf.\n",
             (unsigned long long)j->id, name, name[0] ? " (" : "", number, name[0] ? ")" : "", result,
             error[0] ? error : "", error[0] ? "\n" : "", j->pages_sent, j->page_count, j->attempts,
             (unsigned long long)j->id);
    if (j->notify_attach != JOB_ATTACH_FAX) {
        if ((report = queue_open_report(d->q, j->id)) < 0) {
            snprintf(why, whylen, "the transmission report cannot be made: %s", strerror(-report));
            goto out;
        }
        snprintf(report_name, sizeof report_name, "report-%llu.pdf", (unsigned long long)j->id);
        att[natt++] = (struct mail_attachment){.content_type = "application/pdf", .filename = report_name, .fd = report};
    }
    if (j->notify_attach != JOB_ATTACH_REPORT) {
        if ((fax = queue_open_pdf(d->q, j->id)) < 0) {
            snprintf(why, whylen, "the fax's PDF cannot be made: %s", strerror(-fax));
            goto out;
        }
        snprintf(fax_name, sizeof fax_name, "fax-%llu.pdf", (unsigned long long)j->id);
        att[natt++] = (struct mail_attachment){.content_type = "application/pdf", .filename = fax_name, .fd = fax};
    }
    char targets[JOB_DELIVERY_TARGET_MAX];
    const char *rcpt[JOB_NOTIFY_ADDRESSES_MAX];
    size_t n = receipt_addresses(rec, targets, rcpt);
    struct mail_message m = {
        .to = rcpt, .nto = n, .subject = subject, .message_id = msgid, .text = text,
        .attachments = att, .nattachments = natt,
    };
    int fd = memfd_create("faxfs-receipt-mail", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot stage the message: %s", strerror(errno));
        goto out;
    }
    if (mail_message_write(&m, fd, why, whylen) < 0) {
        close(fd);
        t = DELIVERY_TRY_PERMANENT; /* a refused address: the same again fails again */
        goto out;
    }
    struct sendmail_config sc = {
        .path = d->cfg.sendmail, .timeout_seconds = d->cfg.timeout_seconds,
        .run_as = d->cfg.sendmail_run_as, .uid = d->cfg.sendmail_uid, .gid = d->cfg.sendmail_gid,
    };
    enum sendmail_result r = sendmail_deliver(&sc, NULL, rcpt, n, fd, why, whylen);
    close(fd);
    t = r == SENDMAIL_OK ? DELIVERY_TRY_OK : r == SENDMAIL_PERMANENT ? DELIVERY_TRY_PERMANENT : DELIVERY_TRY_TEMPORARY;
out:
    if (report >= 0)
        close(report);
    if (fax >= 0)
        close(fax);
    return t;
}

/* An attempt receipt (notify_when every-attempt): a short text, no
 * attachment (the report is made once the job ends), telling of one failed
 * attempt as it was recorded then, whatever the job does meanwhile. Its
 * Message-ID is faxfs.ID.(1000 + attempt)@HOST, the same on every try. */
static enum delivery_try act_attempt_receipt(struct deliverer *d, const struct job *j,
                                             const struct job_delivery *rec, char *why, size_t whylen)
{
    char host[256] = "localhost", msgid[MAIL_MESSAGE_ID_MAX], subject[640], text[1536], when[40] = "";
    char number[JOB_NUMBER_MAX], name[JOB_TEXT_MAX], reason[JOB_DELIVERY_REASON_MAX];

    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    mail_message_id(msgid, sizeof msgid, j->id, 1000 + rec->of_attempt, host);
    snprintf(number, sizeof number, "%s", j->recipient_number);
    snprintf(name, sizeof name, "%s", j->recipient_name);
    snprintf(reason, sizeof reason, "%s", rec->reason[0] ? rec->reason : "unknown error");
    clean(number);
    clean(name);
    clean(reason);
    size_t rl = strlen(reason);
    if (rl > 1 && reason[rl - 1] == '.')
        reason[rl - 1] = '\0'; /* the sentence goes on in the subject */
    job_format_time(rec->retry_at, when, sizeof when);
    snprintf(subject, sizeof subject, "Fax %llu to %s%s%s%s: attempt %d of %d failed, %s; next try %s",
             (unsigned long long)j->id, name, name[0] ? " (" : "", number, name[0] ? ")" : "", rec->of_attempt,
             j->max_attempts, reason, when[0] ? when : "now");
    snprintf(text, sizeof text,
             "%s.\n\n"
             "The fax is not given up: it will be tried again. Another mail follows when it ends\n"
             "(with the transmission report), and one after each further failed attempt.\n"
             "The job is under the faxfs mount: jobs/%llu/ (history/%llu/ once it ended).\n",
             subject, (unsigned long long)j->id, (unsigned long long)j->id);
    char targets[JOB_DELIVERY_TARGET_MAX];
    const char *rcpt[JOB_NOTIFY_ADDRESSES_MAX];
    size_t n = receipt_addresses(rec, targets, rcpt);
    const char *extra[] = {"Auto-Submitted: auto-generated"};
    struct mail_message m = {
        .to = rcpt, .nto = n, .subject = subject, .message_id = msgid, .text = text,
        .extra_headers = extra, .nextra = 1,
    };
    int fd = memfd_create("faxfs-receipt-mail", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot stage the message: %s", strerror(errno));
        return DELIVERY_TRY_TEMPORARY;
    }
    if (mail_message_write(&m, fd, why, whylen) < 0) {
        close(fd);
        return DELIVERY_TRY_PERMANENT; /* a refused address: the same again fails again */
    }
    struct sendmail_config sc = {
        .path = d->cfg.sendmail, .timeout_seconds = d->cfg.timeout_seconds,
        .run_as = d->cfg.sendmail_run_as, .uid = d->cfg.sendmail_uid, .gid = d->cfg.sendmail_gid,
    };
    enum sendmail_result r = sendmail_deliver(&sc, NULL, rcpt, n, fd, why, whylen);
    close(fd);
    return r == SENDMAIL_OK ? DELIVERY_TRY_OK : r == SENDMAIL_PERMANENT ? DELIVERY_TRY_PERMANENT
                                                                        : DELIVERY_TRY_TEMPORARY;
}

typedef enum delivery_try (*action_fn)(struct action_ctx *a, char *why, size_t whylen);
static const struct {
    const char *name;
    action_fn run;
    bool needs_document;
} actions[] = {
    {"folder", act_folder, true},
    {"print", act_print, true},
    {"command", act_command, true},
    {"mail", act_mail, true},
};

/* One try of delivery index of job j: the outcome is stored in the job. */
static void deliver_one(struct deliverer *d, const struct job *j, int index)
{
    struct job_delivery rec = j->deliveries[index];
    char why[JOB_DELIVERY_ERROR_MAX] = "";
    enum delivery_try t = DELIVERY_TRY_PERMANENT;
    int ri = -1;
    const struct receive_route *route = route_named(d, j->route, &ri);
    size_t k = 0;
    while (k < sizeof actions / sizeof actions[0] && strcmp(actions[k].name, rec.action) != 0)
        k++;
    if (j->type == JOB_SEND) {
        if (strcmp(rec.action, JOB_RECEIPT_ACTION) == 0)
            t = act_receipt(d, j, index, &rec, why, sizeof why);
        else if (strcmp(rec.action, JOB_ATTEMPT_RECEIPT_ACTION) == 0)
            t = act_attempt_receipt(d, j, &rec, why, sizeof why);
        else
            snprintf(why, sizeof why, "unknown action \"%s\" for a sent fax", rec.action);
    } else if (k == sizeof actions / sizeof actions[0]) {
        snprintf(why, sizeof why, "unknown action \"%s\"", rec.action);
    } else if (!route) {
        snprintf(why, sizeof why, "route \"%s\" is no longer configured; restore it, then write redeliver to ctl",
                 j->route);
    } else {
        struct action_ctx a = {d, j, index, &rec, route, &d->cfg.ids[ri], -1};
        t = DELIVERY_TRY_OK;
        if (actions[k].needs_document && (a.doc_fd = pdf_fd(d, j, why, sizeof why)) < 0)
            t = DELIVERY_TRY_TEMPORARY;
        if (t == DELIVERY_TRY_OK)
            t = actions[k].run(&a, why, sizeof why);
        if (a.doc_fd >= 0)
            close(a.doc_fd);
    }
    if (t != DELIVERY_TRY_OK && is_stopping(d))
        return; /* cut short by the stop: still due, tried again at the next start */
    clean(why);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char done_text[JOB_DELIVERY_ERROR_MAX];
    snprintf(done_text, sizeof done_text, "%s", why);
    delivery_after_try(&rec, &d->cfg.policy, (int64_t)ts.tv_sec, t, why);
    int r = queue_delivery_update(d->q, j->id, index, &rec);
    if (t == DELIVERY_TRY_OK)
        dlog(d, LOG_INFO, "job %llu: delivery %d (%s %s) done%s%s", (unsigned long long)j->id, index + 1, rec.action,
             rec.target, done_text[0] ? ": " : "", done_text);
    else
        dlog(d, LOG_WARNING, "job %llu: delivery %d (%s %s) %s: %s%s", (unsigned long long)j->id, index + 1,
             rec.action, rec.target, rec.state == JD_FAILED ? "failed for good" : "failed, will retry", rec.error,
             rec.state == JD_FAILED ? "; fix it, then write redeliver to the fax's ctl" : "");
    if (r == -ESTALE)
        dlog(d, LOG_INFO, "job %llu: delivery %d was replaced by a newer attempt receipt while it was tried",
             (unsigned long long)j->id, index + 1);
    else if (r < 0)
        dlog(d, LOG_ERR, "job %llu: the outcome of delivery %d could not be stored: %s; it will be tried again",
             (unsigned long long)j->id, index + 1, strerror(-r));
}

/* Chooses the route of a finished fax: owner, group, deliveries, stored
 * before any of them runs. */
static void route_job(struct deliverer *d, const struct job *j)
{
    const struct receive_route *r =
        receive_route_match(d->cfg.routes, j->called_number, j->caller_id, j->remote_id);
    uid_t uid = d->cfg.receive_uid;
    gid_t gid = d->cfg.receive_gid;
    struct job_delivery recs[JOB_DELIVERIES_MAX];
    int n = 0;
    if (r) {
        const struct deliver_ids *ids = &d->cfg.ids[r - d->cfg.routes->route];
        if (ids->has_owner)
            uid = ids->owner_uid;
        /* Without a group the receive owner's group stays: the owner's own
         * primary group may be shared (users), and would open the fax to it. */
        if (ids->has_group)
            gid = ids->group_gid;
        if (j->page_count > 0)
            n = receive_route_deliveries(r, recs, JOB_DELIVERIES_MAX);
    }
    int rc = queue_receive_route(d->q, j->id, r ? r->name : "", uid, gid, recs, n);
    if (rc < 0 && rc != -EALREADY)
        dlog(d, LOG_ERR, "job %llu: its route could not be stored: %s; tried again later", (unsigned long long)j->id,
             strerror(-rc));
    else if (rc == 0)
        dlog(d, LOG_INFO, "job %llu: route %s%s%s, %d deliver%s", (unsigned long long)j->id, r ? "\"" : "none",
             r ? r->name : "", r ? "\"" : "", n, n == 1 ? "y" : "ies");
}

/* One pass over the received faxes; returns when the next try is due. */
static int64_t deliver_pass(struct deliverer *d)
{
    uint64_t *ids = NULL;
    size_t nids = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec, next = now + 60;
    /* Unfinished send jobs too: an attempt receipt is mailed while its job waits to retry. */
    if (queue_list(d->q, QL_RECEIVED | QL_HISTORY | QL_UNFINISHED, &ids, &nids) != 0)
        return now + 5;
    struct job *j = malloc(sizeof *j);
    bool routing = d->cfg.routes != NULL && d->cfg.routes->n > 0;
    for (size_t i = 0; j && i < nids; i++) {
        if (queue_snapshot(d->q, ids[i], j) != 0 || j->status == JOB_RECEIVING || j->unsaved)
            continue; /* an unsaved state waits for the store (announced again then) */
        if (j->type == JOB_SEND && j->ndeliveries == 0)
            continue; /* a sent fax without a receipt */
        if (j->type == JOB_RECEIVE && !routing)
            continue;
        if (j->type == JOB_RECEIVE && j->routed == 0) {
            /* Faxes finished well before this start came before routing. */
            if (j->finished && j->finished < d->started - d->cfg.policy.give_up_s)
                continue;
            route_job(d, j);
            if (queue_snapshot(d->q, ids[i], j) != 0)
                continue;
        }
        for (int k = 0; k < j->ndeliveries; k++) {
            if (is_stopping(d))
                goto out;
            if (delivery_due(&j->deliveries[k], now)) {
                deliver_one(d, j, k);
                struct job_delivery after;
                struct job tmp;
                if (queue_snapshot(d->q, ids[i], &tmp) == 0 && k < tmp.ndeliveries) {
                    after = tmp.deliveries[k];
                    if (after.state == JD_RETRYING && after.next_try < next)
                        next = after.next_try;
                }
            } else if (j->deliveries[k].state == JD_RETRYING && j->deliveries[k].next_try < next) {
                next = j->deliveries[k].next_try;
            }
        }
    }
out:
    free(j);
    free(ids);
    /* Received faxes still loading come in the next passes. */
    if (queue_loading(d->q) && next > now + 1)
        next = now + 1;
    return next;
}

static void *deliverer_main(void *arg)
{
    struct deliverer *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        d->wake_flag = false;
        pthread_mutex_unlock(&d->lock);
        int64_t next = deliver_pass(d);
        pthread_mutex_lock(&d->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        if (next > until.tv_sec)
            until.tv_sec = (time_t)next;
        else
            until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_nsec -= 1000000000L;
            until.tv_sec++;
        }
        while (!d->wake_flag && !d->stopping)
            if (pthread_cond_timedwait(&d->wake, &d->lock, &until) != 0)
                break;
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static void on_queue_event(void *ctx, enum queue_event ev, uint64_t id)
{
    struct deliverer *d = ctx;
    if (id == 0 || ev == QE_LOG || ev == QE_REMOVED)
        return;
    pthread_mutex_lock(&d->lock);
    d->wake_flag = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
}

int deliverer_start(struct deliverer **out, struct queue *q, const struct deliver_config *cfg)
{
    struct deliverer *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->q = q;
    d->cfg = *cfg;
    if (d->cfg.policy.ndelays == 0) {
        char why[160];
        (void)delivery_policy_parse_delays(&d->cfg.policy, DELIVERY_DEFAULT_DELAYS, why, sizeof why);
    }
    if (d->cfg.policy.give_up_s <= 0)
        d->cfg.policy.give_up_s = DELIVERY_DEFAULT_GIVE_UP;
    if (!d->cfg.scratch_dir)
        d->cfg.scratch_dir = "/tmp";
    d->started = (int64_t)time(NULL);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->wake, NULL);
    int r = pthread_create(&d->thread, NULL, deliverer_main, d);
    if (r != 0) {
        pthread_mutex_destroy(&d->lock);
        pthread_cond_destroy(&d->wake);
        free(d);
        return -r;
    }
    if ((r = queue_subscribe(q, on_queue_event, d)) < 0) {
        deliverer_stop(d);
        return r;
    }
    *out = d;
    return 0;
}

void deliverer_stop(struct deliverer *d)
{
    if (!d)
        return;
    queue_unsubscribe(d->q, on_queue_event, d); /* -ENOENT after a failed subscribe is fine */
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->wake);
    free(d);
}
