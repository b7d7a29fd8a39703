/*
 * sandbox.c - the daemon's side of document conversion. The converter
 * program runs under bubblewrap as the conversion user: new user, mount,
 * pid, network, IPC and UTS namespaces, read-only /usr and the few /etc
 * files Ghostscript needs, a private empty /tmp, no capabilities, a fixed
 * environment, resource limits and a wall-clock kill. It gets the
 * document read-only on stdin and writes framed fax pages to a pipe; each
 * page is checked here by document_accept_page() (every scanline
 * decoded) before it reaches the job. Only async-signal-safe calls run
 * between fork and exec, since the daemon has threads.
 */
#include "queue/sandbox.h"

#include "queue/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SANDBOX_MEMORY (1ul << 30)  /* address space of each process in it */
#define SANDBOX_NPROC 64            /* processes of the conversion user, all sandboxes together */
#define SANDBOX_MAX_RUNNING 8       /* at once; about 4 processes each, well under SANDBOX_NPROC */
#define SANDBOX_NOFILE 256          /* Ghostscript opens fonts */
#define SANDBOX_GRACE_SECONDS 10    /* beyond render_seconds: start-up, pictures, copying pages */
#define SANDBOX_MESSAGE_MAX 600     /* bytes of its stderr kept for sentences and the log */
#define SANDBOX_EXIT_NO_USER 125    /* the child could not become the conversion user */
#define SANDBOX_EXIT_NO_BWRAP 127   /* execve of bwrap failed */
#define COPY_CHUNK 65536

/* Mounts of the sandbox: nothing writable but its own empty /tmp; no
 * /home, /root, /var (except font maps and the font cache), /run or spool. */
static const char *const bwrap_mounts[] = {
    "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
    "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
    "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
    "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
    "--ro-bind-try", "/etc/fonts", "/etc/fonts",
    "--ro-bind-try", "/etc/ghostscript", "/etc/ghostscript",
    "--ro-bind-try", "/var/lib/ghostscript", "/var/lib/ghostscript",
    "--ro-bind-try", "/var/cache/fontconfig", "/var/cache/fontconfig",
    "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp",
    NULL,
};
#define CONVERTER_INSIDE "/faxfs-convert"

struct run {
    const struct document_options *opt;
    pid_t pid;
    int out, err;
    int64_t deadline;
    int status;
    bool timed_out, exited;
    char msg[SANDBOX_MESSAGE_MAX + 1];
    size_t msg_len;
    char *buf; /* COPY_CHUNK bytes for copying pages */
    off_t converter_bytes;
};

struct argv_buf {
    char *argv[64];
    char res[16], max_bytes[24], seconds[16];
};

/* How many sandboxes run, across all queues of the process: they share
 * the conversion user's process limit. Protected by running_lock. */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t running_changed = PTHREAD_COND_INITIALIZER;
static int running;

static int64_t monotonic_ms(void);

/* Waits (until deadline_ms) for a free place; false when none came. */
static bool running_enter(int64_t deadline_ms)
{
    bool ok = true;

    pthread_mutex_lock(&running_lock);
    while (running >= SANDBOX_MAX_RUNNING && ok) {
        int64_t now = monotonic_ms();
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = deadline_ms - now;
        if (wait <= 0) {
            ok = false;
            break;
        }
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&running_changed, &running_lock, &ts);
    }
    if (ok)
        running++;
    pthread_mutex_unlock(&running_lock);
    return ok;
}

static void running_leave(void)
{
    pthread_mutex_lock(&running_lock);
    running--;
    pthread_cond_signal(&running_changed);
    pthread_mutex_unlock(&running_lock);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void build_argv(const struct sandbox_options *sb, const struct document_options *opt, struct argv_buf *a)
{
    int n = 0;

    snprintf(a->res, sizeof a->res, "%d", opt->resolution);
    snprintf(a->max_bytes, sizeof a->max_bytes, "%llu", (unsigned long long)opt->max_bytes);
    snprintf(a->seconds, sizeof a->seconds, "%d", opt->render_seconds);
    a->argv[n++] = (char *)sb->bwrap;
    for (const char *const *m = bwrap_mounts; *m != NULL; m++)
        a->argv[n++] = (char *)*m;
    /* By descriptor (fd 3 in the child, opened by the daemon): the
     * conversion user need not be able to reach the converter's path. */
    char *tail[] = {"--perms", "0555", "--ro-bind-data", "3", CONVERTER_INSIDE, "--", CONVERTER_INSIDE, a->res,
                    a->max_bytes, a->seconds, opt->ghostscript ? (char *)opt->ghostscript : "-", NULL};
    for (char **t = tail; *t != NULL; t++)
        a->argv[n++] = *t;
    a->argv[n] = NULL;
}

static void limit(int resource, rlim_t value)
{
    struct rlimit rl = {value, value};
    setrlimit(resource, &rl);
}

static void child_fail(const char *msg, int code)
{
    ssize_t ignored = write(2, msg, strlen(msg));
    (void)ignored;
    _exit(code);
}

/* In the child: only async-signal-safe calls. Never returns. */
static void exec_sandbox(const struct sandbox_options *sb, const struct run *r, char *const argv[],
                         char *const envp[], int in_fd, int out_fd, int err_fd, int prog_fd)
{
    sigset_t none;
    int in = fcntl(in_fd, F_DUPFD, 10), out = fcntl(out_fd, F_DUPFD, 10), err = fcntl(err_fd, F_DUPFD, 10);
    int prog = fcntl(prog_fd, F_DUPFD, 10);

    if (in < 0 || out < 0 || err < 0 || prog < 0 || dup2(err, 2) < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
        dup2(prog, 3) < 0)
        _exit(126);
    if (close_range(4, ~0u, 0) != 0)
        for (int fd = 4; fd < 1024; fd++)
            close(fd);
    /* bwrap writes its copy of the converter; the converter its pages. */
    limit(RLIMIT_FSIZE, (rlim_t)r->opt->max_bytes + (1u << 20) + (rlim_t)r->converter_bytes);
    limit(RLIMIT_CPU, (rlim_t)r->opt->render_seconds + SANDBOX_GRACE_SECONDS);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    /* AddressSanitizer and ThreadSanitizer reserve terabytes of shadow
     * memory up front: a sanitizer build of the converter cannot start
     * under this limit. */
    limit(RLIMIT_AS, SANDBOX_MEMORY);
#endif
    limit(RLIMIT_NOFILE, SANDBOX_NOFILE);
    limit(RLIMIT_CORE, 0);
    if (geteuid() == 0) {
        limit(RLIMIT_NPROC, SANDBOX_NPROC);
        /* Raw system calls: the libc wrappers change the ids of every
         * thread of the process, and this child shares the daemon's
         * memory (vfork) and so its list of threads. */
        if (sb->uid == 0 || syscall(SYS_setgroups, 0, NULL) != 0 ||
            syscall(SYS_setresgid, sb->gid, sb->gid, sb->gid) != 0 ||
            syscall(SYS_setresuid, sb->uid, sb->uid, sb->uid) != 0 || geteuid() == 0)
            child_fail("faxfs: cannot switch to the conversion user\n", SANDBOX_EXIT_NO_USER);
    }
    /* Every signal the daemon handles goes back to its default before any
     * is unblocked: a daemon handler must never run in this child, which
     * shares the daemon's memory. */
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
            (sa.sa_handler != SIG_IGN || sig == SIGPIPE || sig == SIGXFSZ)) {
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            sigaction(sig, &sa, NULL);
        }
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(sb->bwrap, argv, envp);
    child_fail("faxfs: cannot run bwrap\n", SANDBOX_EXIT_NO_BWRAP);
}

/* The environment of the sandbox: fixed, nothing of the daemon's. */
struct env_buf {
    char *envp[8];
    char asan[512], ubsan[512];
};

static void build_env(struct env_buf *e)
{
    int n = 0;

    e->envp[n++] = "PATH=/usr/bin:/bin";
    e->envp[n++] = "LANG=C";
    e->envp[n++] = "LC_ALL=C";
    e->envp[n++] = "TMPDIR=/tmp";
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds (tests): the converter reports like the daemon. */
    const char *a = getenv("ASAN_OPTIONS"), *u = getenv("UBSAN_OPTIONS");
    if (a != NULL && snprintf(e->asan, sizeof e->asan, "ASAN_OPTIONS=%s", a) < (int)sizeof e->asan)
        e->envp[n++] = e->asan;
    if (u != NULL && snprintf(e->ubsan, sizeof e->ubsan, "UBSAN_OPTIONS=%s", u) < (int)sizeof e->ubsan)
        e->envp[n++] = e->ubsan;
#endif
    e->envp[n] = NULL;
}

static void drain_messages(struct run *r)
{
    char buf[512];
    ssize_t n = read(r->err, buf, sizeof buf);

    if (n > 0 && r->msg_len < SANDBOX_MESSAGE_MAX) {
        size_t take = (size_t)n < SANDBOX_MESSAGE_MAX - r->msg_len ? (size_t)n : SANDBOX_MESSAGE_MAX - r->msg_len;
        memcpy(r->msg + r->msg_len, buf, take);
        r->msg_len += take;
        r->msg[r->msg_len] = '\0';
    } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        close(r->err);
        r->err = -1;
    }
}

/* Reads exactly n bytes of the converter's output, draining its messages
 * meanwhile. Returns 0, -EPIPE at the end of its output, -ETIMEDOUT. */
static int read_output(struct run *r, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        int64_t left = r->deadline - monotonic_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p[2] = {{r->out, POLLIN, 0}, {r->err, POLLIN, 0}};
        if (poll(p, 2, left > 1000 ? 1000 : (int)left) < 0) {
            if (errno == EINTR)
                continue;
            return -EIO;
        }
        if (p[1].revents != 0)
            drain_messages(r);
        if (p[0].revents != 0) {
            ssize_t k = read(r->out, (char *)buf + got, n - got);
            if (k > 0)
                got += (size_t)k;
            else if (k == 0)
                return -EPIPE;
            else if (errno != EINTR && errno != EAGAIN)
                return -EIO;
        }
    }
    return 0;
}

/* Waits for the sandbox to end, killing it at the deadline (or now). */
static void reap(struct run *r, bool kill_now)
{
    if (r->pid <= 0)
        return;
    if (kill_now)
        kill(r->pid, SIGKILL);
    for (;;) {
        pid_t w = waitpid(r->pid, &r->status, WNOHANG);
        if (w == r->pid || (w < 0 && errno != EINTR))
            break;
        if (monotonic_ms() >= r->deadline) {
            kill(r->pid, SIGKILL);
            r->timed_out = true;
            while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        struct pollfd p = {r->err, POLLIN, 0};
        if (poll(&p, 1, 20) > 0)
            drain_messages(r);
    }
    r->exited = true;
    r->pid = 0;
    while (r->err >= 0)
        drain_messages(r); /* the sandbox is gone: this ends at once */
}

static int start(const struct sandbox_options *sb, int fd, struct run *r, char *why, size_t whylen)
{
    struct argv_buf a;
    struct env_buf e;
    char self[32];
    int outp[2], errp[2];

    if (sb->bwrap == NULL || access(sb->bwrap, X_OK) != 0) {
        snprintf(why, whylen, "the document cannot be converted: bubblewrap (%s) is not installed, and documents "
                 "are converted only in its sandbox; install bubblewrap", sb->bwrap ? sb->bwrap : "bwrap");
        return -ENOENT;
    }
    int prog = sb->converter && access(sb->converter, X_OK) == 0 ? open(sb->converter, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (prog < 0 || fstat(prog, &st) != 0) {
        if (prog >= 0)
            close(prog);
        snprintf(why, whylen, "the document cannot be converted: the converter %s is missing; reinstall faxfs",
                 sb->converter ? sb->converter : "faxfs-convert");
        return -ENOENT;
    }
    r->converter_bytes = st.st_size;
    /* A read-only descriptor of its own: the sandbox cannot change or grow
     * the upload. */
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    int in = open(self, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(why, whylen, "the document cannot be read: %s", strerror(errno));
        close(prog);
        return -EIO;
    }
    if (pipe2(outp, O_CLOEXEC) != 0) {
        int err = errno;
        close(in);
        close(prog);
        snprintf(why, whylen, "the document cannot be converted now: %s; submit it again later", strerror(err));
        return -EAGAIN;
    }
    if (pipe2(errp, O_CLOEXEC) != 0) {
        int err = errno;
        close(in);
        close(prog);
        close(outp[0]);
        close(outp[1]);
        snprintf(why, whylen, "the document cannot be converted now: %s; submit it again later", strerror(err));
        return -EAGAIN;
    }
    build_argv(sb, r->opt, &a);
    build_env(&e);
    r->deadline = monotonic_ms() + (int64_t)(r->opt->render_seconds + SANDBOX_GRACE_SECONDS) * 1000;
    /* vfork: the child borrows the daemon's memory until it execs bwrap,
     * so starting it costs no copy of the daemon's page tables and no
     * copy-on-write faults in the daemon's threads afterwards (fork of a
     * daemon with hundreds of modem channels cost more than the
     * conversion). Signals stay blocked in this thread until the child
     * has exec'd or exited. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0)
        exec_sandbox(sb, r, a.argv, e.envp, in, outp[1], errp[1], prog);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(in);
    close(prog);
    close(outp[1]);
    close(errp[1]);
    if (pid < 0) {
        close(outp[0]);
        close(errp[0]);
        snprintf(why, whylen, "the document cannot be converted now: %s; submit it again later", strerror(err));
        return -EAGAIN;
    }
    r->pid = pid;
    r->out = outp[0];
    r->err = errp[0];
    return 0;
}

/* The most telling line of the sandbox's messages, printable. */
static void message_line(const struct run *r, char *out, size_t outlen)
{
    const char *line = strstr(r->msg, "ERROR:");
    size_t n = 0;

    if (line == NULL)
        line = r->msg;
    while (*line == '\n' || *line == ' ' || *line == '=')
        line++;
    for (; *line && *line != '\n' && n + 1 < outlen && n < 160; line++)
        out[n++] = (*line >= 0x20 && *line < 0x7f) ? *line : '?';
    out[n] = '\0';
}

/* Why the sandbox ended without a word of its own. */
static int judge_silence(const struct sandbox_options *sb, const struct run *r, char *why, size_t whylen)
{
    char msg[200];

    message_line(r, msg, sizeof msg);
    if (r->timed_out) {
        snprintf(why, whylen, "the document took longer than %d seconds to convert; simplify it (or print it to a "
                 "new PDF)", r->opt->render_seconds);
        return -ETIMEDOUT;
    }
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == SANDBOX_EXIT_NO_BWRAP) {
        snprintf(why, whylen, "the document cannot be converted: bubblewrap (%s) cannot be run; install bubblewrap",
                 sb->bwrap);
        return -ENOENT;
    }
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == SANDBOX_EXIT_NO_USER) {
        snprintf(why, whylen, "the document cannot be converted: the conversion user (uid %lu) cannot be used; "
                 "give --convert-user an existing user other than root", (unsigned long)sb->uid);
        return -EPERM;
    }
    if (strncmp(msg, "bwrap:", 6) == 0) {
        snprintf(why, whylen, "the document cannot be converted: its sandbox cannot be made (%s); install "
                 "bubblewrap and allow user namespaces (sysctl user.max_user_namespaces)", msg);
        return -EPERM;
    }
    if (WIFSIGNALED(r->status) || (WIFEXITED(r->status) && WEXITSTATUS(r->status) != 0)) {
        snprintf(why, whylen, "the document could not be converted (the converter %s %d%s%s); save it again or "
                 "print it to a new PDF", WIFSIGNALED(r->status) ? "was stopped by signal" : "failed with status",
                 WIFSIGNALED(r->status) ? WTERMSIG(r->status) : WEXITSTATUS(r->status), msg[0] ? ": " : "", msg);
        return -EINVAL;
    }
    snprintf(why, whylen, "the document could not be converted (the converter ended without a result); save it "
             "again or print it to a new PDF");
    return -EIO;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The converter's own refusal: errno from a known set, sentence made
 * printable. */
static int take_failure(struct run *r, uint32_t len, char *why, size_t whylen)
{
    static const int known[] = {EINVAL, EFBIG, ETIMEDOUT, ENOENT, ENOMEM, ENOSPC, EIO, EAGAIN};
    unsigned char buf[4 + SANDBOX_SENTENCE_MAX];
    int err = EIO;

    if (len < 4 || len > sizeof buf || read_output(r, buf, len) != 0) {
        snprintf(why, whylen, "the document could not be converted (the converter's answer is malformed)");
        return -EIO;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (le32(buf) == (uint32_t)known[i])
            err = known[i];
    size_t n = len - 4 < whylen - 1 ? len - 4 : whylen - 1;
    for (size_t i = 0; i < n; i++)
        why[i] = (buf[4 + i] >= 0x20 && buf[4 + i] < 0x7f) ? (char)buf[4 + i] : '?';
    why[n] = '\0';
    return -err;
}

/* One PAGE record into the scratch file, then checked into the sink. */
static int take_page(struct run *r, uint32_t len, int scratch, int index, int page, const struct document_sink *sink,
                     struct document_result *res, char *why, size_t whylen)
{
    char reason[256];
    uint64_t bytes = 0;
    int rc;

    if (ftruncate(scratch, 0) != 0 || lseek(scratch, 0, SEEK_SET) != 0)
        goto write_failed;
    for (uint32_t done = 0; done < len;) {
        size_t n = len - done < COPY_CHUNK ? len - done : COPY_CHUNK;
        if ((rc = read_output(r, r->buf, n)) != 0)
            return rc;
        if (write(scratch, r->buf, n) != (ssize_t)n)
            goto write_failed;
        done += (uint32_t)n;
    }
    if ((rc = document_accept_page(scratch, index, sink, &bytes, reason, sizeof reason)) != 0) {
        snprintf(why, whylen, "page %d made by the converter was refused: %s", page, reason);
        return rc == -EINVAL ? -EIO : rc;
    }
    res->pages = page;
    res->bytes += bytes;
    return 0;
write_failed:
    rc = errno == ENOSPC || errno == EDQUOT ? ENOSPC : EIO;
    snprintf(why, whylen, "page %d could not be stored: %s; free space in the spool and submit again", page,
             strerror(rc));
    return -rc;
}

/* Reads records until DONE or FAIL. Returns 0, -errno with why, or 1 when
 * the output ended or broke off (judged by how the sandbox ended). */
static int read_records(struct run *r, int scratch, int first_index, const struct document_sink *sink,
                        struct document_result *res, char *why, size_t whylen)
{
    unsigned char h[SANDBOX_HEADER_BYTES];

    for (;;) {
        int rc = read_output(r, h, sizeof h);
        if (rc != 0) {
            r->timed_out = rc == -ETIMEDOUT;
            return 1;
        }
        uint32_t len = le32(h + 4);
        if (memcmp(h, SANDBOX_TAG_DONE, 4) == 0 && len == 0)
            return 0;
        if (memcmp(h, SANDBOX_TAG_FAIL, 4) == 0)
            return take_failure(r, len, why, whylen);
        if (memcmp(h, SANDBOX_TAG_PAGE, 4) != 0) {
            snprintf(why, whylen, "the document could not be converted (the converter's answer is malformed)");
            return -EIO;
        }
        if (res->pages >= DOCUMENT_MAX_PAGES) {
            snprintf(why, whylen, "the document has more than %d pages; split it into several jobs",
                     DOCUMENT_MAX_PAGES);
            return -EINVAL;
        }
        if ((uint64_t)len + res->bytes > r->opt->max_bytes) {
            snprintf(why, whylen, "the document converts to more than %llu bytes of fax pages; split it into "
                     "smaller documents", (unsigned long long)r->opt->max_bytes);
            return -EFBIG;
        }
        rc = take_page(r, len, scratch, first_index + res->pages, res->pages + 1, sink, res, why, whylen);
        if (rc == -ETIMEDOUT || rc == -EPIPE) {
            r->timed_out = rc == -ETIMEDOUT;
            return 1;
        }
        if (rc != 0)
            return rc;
    }
}

int sandbox_convert(const struct sandbox_options *sb, int fd, const struct document_options *opt, int first_index,
                    const struct document_sink *sink, struct document_result *res, char *why, size_t whylen)
{
    struct document_options o = *opt;
    struct run r = {.opt = &o, .out = -1, .err = -1};
    struct stat st;
    int rc;

    res->pages = 0;
    res->bytes = 0;
    if (o.render_seconds <= 0)
        o.render_seconds = QUEUE_DEFAULT_RENDER_SECONDS;
    /* The checks that need no parsing, before paying for a sandbox. */
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "the document cannot be read: %s", strerror(errno));
        return -EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "the document is not a regular file");
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > o.max_bytes) {
        snprintf(why, whylen, "the document is %llu bytes; the limit is %llu bytes", (unsigned long long)st.st_size,
                 (unsigned long long)o.max_bytes);
        return -EFBIG;
    }
    if ((r.buf = malloc(COPY_CHUNK)) == NULL) {
        snprintf(why, whylen, "the document cannot be converted now: out of memory; submit it again later");
        return -ENOMEM;
    }
    int scratch = o.scratch_fd ? o.scratch_fd(o.scratch_ctx) : memfd_create("converted", MFD_CLOEXEC);
    if (scratch < 0) {
        free(r.buf);
        rc = o.scratch_fd ? scratch : -errno;
        snprintf(why, whylen, "the document cannot be converted: no scratch space (%s); free space in the spool",
                 strerror(-rc));
        return rc;
    }
    if (!running_enter(monotonic_ms() + (int64_t)o.render_seconds * 1000)) {
        snprintf(why, whylen, "the server is converting %d documents already and none finished within %d seconds; "
                 "submit it again later", SANDBOX_MAX_RUNNING, o.render_seconds);
        free(r.buf);
        close(scratch);
        return -EAGAIN;
    }
    if ((rc = start(sb, fd, &r, why, whylen)) != 0) {
        running_leave();
        free(r.buf);
        close(scratch);
        return rc;
    }
    rc = read_records(&r, scratch, first_index, sink, res, why, whylen);
    close(r.out);
    reap(&r, rc != 0);
    running_leave();
    free(r.buf);
    close(scratch);
    if (rc == 1)
        return judge_silence(sb, &r, why, whylen);
    if (rc == 0 && !(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0))
        return judge_silence(sb, &r, why, whylen);
    return rc;
}

int sandbox_probe(const struct sandbox_options *sb, char *why, size_t whylen)
{
    struct document_options o = {.max_bytes = 1024, .render_seconds = 5};
    struct run r = {.opt = &o, .out = -1, .err = -1};
    unsigned char h[SANDBOX_HEADER_BYTES];
    int rc, fd = memfd_create("probe", MFD_CLOEXEC);

    if (fd < 0) {
        snprintf(why, whylen, "cannot test the document sandbox: %s", strerror(errno));
        return -errno;
    }
    rc = start(sb, fd, &r, why, whylen);
    close(fd);
    if (rc != 0)
        return rc;
    /* An empty document: any answer at all proves the sandbox runs. */
    rc = read_output(&r, h, sizeof h);
    close(r.out);
    reap(&r, true);
    if (rc == 0 && (memcmp(h, SANDBOX_TAG_FAIL, 4) == 0 || memcmp(h, SANDBOX_TAG_DONE, 4) == 0))
        return 0;
    r.timed_out = rc == -ETIMEDOUT;
    rc = judge_silence(sb, &r, why, whylen);
    return rc != 0 ? rc : -EIO;
}
