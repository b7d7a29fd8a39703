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

#include "queue/fault.h"
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
#include <sys/socket.h>
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
#define SANDBOX_EXIT_BUSY 124       /* execve of bwrap failed with EAGAIN or ENOMEM: no processes to spare */
#define COPY_CHUNK 65536
/* A page the converter returns is held for its check in a memory file up
 * to this size (a fax page is tens of KiB; at most this much per running
 * sandbox), in the spool's scratch file beyond: a file created and deleted
 * per document on the spool's disk costs more than the check itself. */
#define SCRATCH_MEMORY_MAX (1u << 20)
/* Kept sandboxes: at most half the places, so that one-shot sandboxes
 * (when every kept one is busy) never wait for idle ones. */
#define POOL_SLOTS (SANDBOX_MAX_RUNNING / 2)
#define POOL_MAX_DOCS 200           /* documents per kept sandbox's life */
#define POOL_IDLE_MS 10000          /* a kept sandbox idle this long ends */
#define POOL_WAIT_MS 1000           /* for a busy kept sandbox, then a one-shot one */
/* A sandbox that could not be made for want of processes or memory (the
 * conversion user shares its process limit with every conversion on the
 * machine, other daemons' too) is tried again this often, after 25, 100,
 * 400 and 1600 ms, before the document is refused with EAGAIN. */
#define SANDBOX_START_TRIES 5
#define SANDBOX_START_BACKOFF_MS 25

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
    int in;        /* serve mode: the socket of its requests; -1 otherwise */
    int cpu_docs;  /* documents its CPU time limit is made for */
    bool fake_busy; /* fault injection: bwrap's answer when the user has no processes left */
    uint64_t got;  /* bytes of output read for the current document */
};

/* Where a returned page is held while the daemon checks it. */
struct scratch {
    const struct document_options *o;
    int mem;  /* a memory file, for pages up to SCRATCH_MEMORY_MAX */
    int big;  /* the spool's scratch file for larger ones; -1 until one comes */
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

static void build_argv(const struct sandbox_options *sb, const struct document_options *opt, bool serve,
                       struct argv_buf *a)
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
    char *gs = opt->ghostscript ? (char *)opt->ghostscript : "-";
    char *tail[] = {"--perms", "0555", "--ro-bind-data", "3", CONVERTER_INSIDE, "--", CONVERTER_INSIDE, a->res,
                    a->max_bytes, a->seconds, gs, NULL};
    char *serve_tail[] = {"--perms", "0555", "--ro-bind-data", "3", CONVERTER_INSIDE, "--", CONVERTER_INSIDE,
                          "--serve", gs, NULL};
    for (char **t = serve ? serve_tail : tail; *t != NULL; t++)
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
    if (r->fake_busy) /* what bwrap says when the conversion user is at its process limit */
        child_fail("bwrap: Creating new namespace failed: Resource temporarily unavailable\n", 1);
    if (close_range(4, ~0u, 0) != 0)
        for (int fd = 4; fd < 1024; fd++)
            close(fd);
    /* bwrap writes its copy of the converter; the converter its pages. */
    limit(RLIMIT_FSIZE, (rlim_t)r->opt->max_bytes + (1u << 20) + (rlim_t)r->converter_bytes);
    /* A kept sandbox: its total; each document has its wall-clock timer. */
    limit(RLIMIT_CPU, ((rlim_t)r->opt->render_seconds + SANDBOX_GRACE_SECONDS) * (rlim_t)r->cpu_docs);
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
    /* execve checks the process limit of the user it now runs as. */
    if (errno == EAGAIN || errno == ENOMEM)
        child_fail("faxfs: cannot run bwrap: the conversion user has no processes or memory to spare\n",
                   SANDBOX_EXIT_BUSY);
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

/* Waits up to a second (and never past r->deadline) for fd to be ready
 * for events, draining the converter's messages meanwhile. 1 when fd is
 * ready, 0 when not yet, -ETIMEDOUT past the deadline, -EIO. */
static int wait_ready(struct run *r, int fd, short events)
{
    int64_t left = r->deadline - monotonic_ms();
    if (left <= 0)
        return -ETIMEDOUT;
    struct pollfd p[2] = {{fd, events, 0}, {r->err, POLLIN, 0}};
    if (poll(p, 2, left > 1000 ? 1000 : (int)left) < 0)
        return errno == EINTR ? 0 : -EIO;
    if (p[1].revents != 0)
        drain_messages(r);
    return p[0].revents != 0;
}

/* Reads exactly n bytes of the converter's output, draining its messages
 * meanwhile. Returns 0, -EPIPE at the end of its output, -ETIMEDOUT. */
static int read_output(struct run *r, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        int w = wait_ready(r, r->out, POLLIN);
        if (w < 0)
            return w;
        if (w > 0) {
            ssize_t k = read(r->out, (char *)buf + got, n - got);
            if (k > 0) {
                got += (size_t)k;
                r->got += (uint64_t)k;
            }
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

/* fd: the document; -1: serve mode, requests on a socket (r->in). */
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
    int in, req[2] = {-1, -1};
    if (fd >= 0) {
        snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
        in = open(self, O_RDONLY | O_CLOEXEC);
    } else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, req) == 0) {
        /* One way only: the daemon sends, the sandbox reads. */
        shutdown(req[0], SHUT_RD);
        shutdown(req[1], SHUT_WR);
        fcntl(req[0], F_SETFL, O_NONBLOCK);
        in = req[1];
    } else {
        in = -1;
    }
    if (in < 0) {
        snprintf(why, whylen, "the document cannot be read: %s", strerror(errno));
        close(prog);
        return -EIO;
    }
    if (pipe2(outp, O_CLOEXEC) != 0) {
        int err = errno;
        close(in);
        close(prog);
        if (req[0] >= 0)
            close(req[0]);
        snprintf(why, whylen, "the document cannot be converted now: %s; submit it again later", strerror(err));
        return -EAGAIN;
    }
    if (pipe2(errp, O_CLOEXEC) != 0) {
        int err = errno;
        close(in);
        close(prog);
        if (req[0] >= 0)
            close(req[0]);
        close(outp[0]);
        close(outp[1]);
        snprintf(why, whylen, "the document cannot be converted now: %s; submit it again later", strerror(err));
        return -EAGAIN;
    }
    if (r->cpu_docs < 1)
        r->cpu_docs = 1;
    build_argv(sb, r->opt, fd < 0, &a);
    build_env(&e);
    r->fake_busy = FAULT_POINT("sandbox.start") != 0;
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
        if (req[0] >= 0)
            close(req[0]);
        snprintf(why, whylen, "the document cannot be converted now: %s; submit it again later", strerror(err));
        return -EAGAIN;
    }
    r->pid = pid;
    r->out = outp[0];
    r->err = errp[0];
    r->in = req[0];
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

/* True when bwrap could not make the sandbox for want of processes or
 * memory, before the converter ran (nothing of the document was read
 * back): a passing shortage, worth another try. bwrap runs with LANG=C. */
static bool start_was_busy(const struct run *r)
{
    static const char *const busy[] = {"Resource temporarily unavailable", "Cannot allocate memory"};
    char msg[200];

    if (r->got != 0 || r->timed_out)
        return false;
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == SANDBOX_EXIT_BUSY)
        return true;
    message_line(r, msg, sizeof msg);
    if (strncmp(msg, "bwrap:", 6) != 0)
        return false;
    for (size_t i = 0; i < sizeof busy / sizeof busy[0]; i++)
        if (strstr(msg, busy[i]) != NULL)
            return true;
    return false;
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
    if (start_was_busy(r)) {
        snprintf(why, whylen, "the document cannot be converted now: its sandbox could not be started (%s): the "
                 "conversion user has no processes or memory to spare; submit it again later", msg);
        return -EAGAIN;
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

#define le32 sandbox_le32

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
static int take_page(struct run *r, uint32_t len, struct scratch *sc, int index, int page,
                     const struct document_sink *sink, struct document_result *res, char *why, size_t whylen)
{
    char reason[256];
    uint64_t bytes = 0;
    int rc, scratch = sc->mem;

    if (len > SCRATCH_MEMORY_MAX) {
        if (sc->big < 0) {
            sc->big = sc->o->scratch_fd ? sc->o->scratch_fd(sc->o->scratch_ctx) : memfd_create("converted", MFD_CLOEXEC);
            if (sc->big < 0) {
                rc = sc->o->scratch_fd ? -sc->big : errno;
                sc->big = -1;
                snprintf(why, whylen, "page %d could not be stored: %s; free space in the spool and submit again",
                         page, strerror(rc));
                return rc == ENOSPC || rc == EDQUOT ? -ENOSPC : -EIO;
            }
        }
        scratch = sc->big;
    }

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
static int read_records(struct run *r, struct scratch *scratch, int first_index, const struct document_sink *sink,
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

/* The checks that need no parsing, before paying for a sandbox. Returns
 * 0 with the document's size, or -errno with why. */
static int precheck(int fd, struct document_options *o, struct document_result *res, off_t *size, char *why,
                    size_t whylen)
{
    struct stat st;

    res->pages = 0;
    res->bytes = 0;
    if (o->render_seconds <= 0)
        o->render_seconds = QUEUE_DEFAULT_RENDER_SECONDS;
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "the document cannot be read: %s", strerror(errno));
        return -EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "the document is not a regular file");
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > o->max_bytes) {
        snprintf(why, whylen, "the document is %llu bytes; the limit is %llu bytes", (unsigned long long)st.st_size,
                 (unsigned long long)o->max_bytes);
        return -EFBIG;
    }
    *size = st.st_size;
    return 0;
}

static int open_scratch(const struct document_options *o, struct scratch *sc, char *why, size_t whylen)
{
    sc->o = o;
    sc->big = -1;
    sc->mem = memfd_create("converted", MFD_CLOEXEC);
    if (sc->mem < 0 && o->scratch_fd)
        sc->mem = o->scratch_fd(o->scratch_ctx);
    else if (sc->mem < 0)
        sc->mem = -errno;
    if (sc->mem < 0) {
        snprintf(why, whylen, "the document cannot be converted: no scratch space (%s); free space in the spool",
                 strerror(-sc->mem));
        return sc->mem;
    }
    return 0;
}

static void close_scratch(struct scratch *sc)
{
    if (sc->mem >= 0)
        close(sc->mem);
    if (sc->big >= 0)
        close(sc->big);
    sc->mem = sc->big = -1;
}

int sandbox_convert(const struct sandbox_options *sb, int fd, const struct document_options *opt, int first_index,
                    const struct document_sink *sink, struct document_result *res, char *why, size_t whylen)
{
    struct document_options o = *opt;
    struct run r = {.opt = &o, .out = -1, .err = -1, .in = -1};
    off_t size;
    int rc;

    if ((rc = precheck(fd, &o, res, &size, why, whylen)) != 0)
        return rc;
    if ((r.buf = malloc(COPY_CHUNK)) == NULL) {
        snprintf(why, whylen, "the document cannot be converted now: out of memory; submit it again later");
        return -ENOMEM;
    }
    struct scratch scratch;
    if ((rc = open_scratch(&o, &scratch, why, whylen)) != 0) {
        free(r.buf);
        return rc;
    }
    for (int attempt = 1;; attempt++) {
        if (!running_enter(monotonic_ms() + (int64_t)o.render_seconds * 1000)) {
            snprintf(why, whylen, "the server is converting %d documents already and none finished within %d "
                     "seconds; submit it again later", SANDBOX_MAX_RUNNING, o.render_seconds);
            free(r.buf);
            close_scratch(&scratch);
            return -EAGAIN;
        }
        if ((rc = start(sb, fd, &r, why, whylen)) != 0) {
            running_leave();
            free(r.buf);
            close_scratch(&scratch);
            return rc;
        }
        rc = read_records(&r, &scratch, first_index, sink, res, why, whylen);
        close(r.out);
        reap(&r, rc != 0);
        running_leave();
        if (rc != 1 || attempt == SANDBOX_START_TRIES || !start_was_busy(&r))
            break;
        /* Its sandbox could not be made and nothing of the document was
         * read: another try once some conversions have ended. */
        char msg[200];
        int delay = SANDBOX_START_BACKOFF_MS << (2 * (attempt - 1));
        message_line(&r, msg, sizeof msg);
        fprintf(stderr, "faxfs: a document sandbox could not be started (%s); trying again in %d ms (try %d of %d)\n",
                msg, delay, attempt + 1, SANDBOX_START_TRIES);
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        char *buf = r.buf;
        r = (struct run){.opt = &o, .out = -1, .err = -1, .in = -1, .buf = buf};
    }
    free(r.buf);
    close_scratch(&scratch);
    if (rc == 1)
        return judge_silence(sb, &r, why, whylen);
    if (rc == 0 && !(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0))
        return judge_silence(sb, &r, why, whylen);
    return rc;
}

/*
 * Kept sandboxes (serve mode), across all queues of the process like
 * `running`, each holding one place of it while it lives. A slot is
 * free, starting or busy (one thread owns it and its run, outside the
 * lock), or idle (waiting for a document of its user). pool_lock guards
 * the states, keys and counters; the reaper thread ends idle ones.
 */
enum slot_state { SLOT_FREE, SLOT_BUSY, SLOT_IDLE };

struct slot {
    enum slot_state state;
    /* The key: whose documents, and the settings its sandbox was started with. */
    uid_t user;
    struct sandbox_options sb;
    char ghostscript[256];
    uint64_t max_bytes;
    int render_seconds;
    int docs;          /* documents given to it */
    int max_docs;      /* of its life */
    /* A start asked of the pool thread (see pool_thread): */
    bool start_wanted, start_done;
    int start_rc;
    const struct sandbox_options *start_sb;
    char *start_why;
    size_t start_whylen;
    int64_t idle_since;
    struct run r;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_changed = PTHREAD_COND_INITIALIZER;
static struct slot pool[POOL_SLOTS];
static struct sandbox_pool_limits pool_limits = {-1, POOL_MAX_DOCS, POOL_IDLE_MS}; /* alive -1: not yet set */
static unsigned long pool_starts;
static bool reaper_running;

static int pool_alive_limit(void)
{
    if (pool_limits.alive < 0) {
        /* Two per processor, and at most half of the places for
         * sandboxes at once: one-shot conversions keep the rest. */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int n = cpus > 0 ? (int)cpus * 2 : 2;
        pool_limits.alive = n < POOL_SLOTS ? n : POOL_SLOTS;
    }
    return pool_limits.alive;
}

struct sandbox_pool_limits sandbox_pool_limits(void)
{
    pthread_mutex_lock(&pool_lock);
    pool_alive_limit();
    struct sandbox_pool_limits l = pool_limits;
    pthread_mutex_unlock(&pool_lock);
    return l;
}

void sandbox_pool_set_limits(const struct sandbox_pool_limits *l)
{
    pthread_mutex_lock(&pool_lock);
    pool_alive_limit();
    if (l->alive >= 0)
        pool_limits.alive = l->alive < POOL_SLOTS ? l->alive : POOL_SLOTS;
    if (l->max_docs > 0)
        pool_limits.max_docs = l->max_docs;
    if (l->idle_ms > 0)
        pool_limits.idle_ms = l->idle_ms;
    pthread_cond_broadcast(&pool_changed);
    pthread_mutex_unlock(&pool_lock);
}

void sandbox_pool_stats(struct sandbox_pool_stats *st)
{
    pthread_mutex_lock(&pool_lock);
    *st = (struct sandbox_pool_stats){.starts = pool_starts};
    for (int i = 0; i < POOL_SLOTS; i++) {
        st->alive += pool[i].state != SLOT_FREE;
        st->idle += pool[i].state == SLOT_IDLE;
    }
    pthread_mutex_unlock(&pool_lock);
}

/* Kills the sandbox of a slot its caller owns (busy, or idle taken under
 * the lock) and gives back its place; the slot's state is the caller's. */
static void slot_end(struct slot *s)
{
    if (s->r.in >= 0)
        close(s->r.in);
    s->r.in = -1;
    if (s->r.out >= 0)
        close(s->r.out);
    s->r.out = -1;
    if (s->r.pid > 0) {
        reap(&s->r, true);
        running_leave();
    }
    if (s->r.err >= 0)
        close(s->r.err);
    s->r.err = -1;
}

static void slot_free(struct slot *s)
{
    pthread_mutex_lock(&pool_lock);
    s->state = SLOT_FREE;
    pthread_cond_broadcast(&pool_changed);
    pthread_mutex_unlock(&pool_lock);
}

/*
 * The pool's own thread, which lives as long as the process: starts kept
 * sandboxes, since bwrap's --die-with-parent ends a sandbox when the
 * thread that started it ends (a filesystem worker or a cover thread
 * would take the sandbox with it, maybe in the middle of another
 * thread's document), and ends idle ones past their idle time (or over
 * the limits).
 */
static void *reaper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool_lock);
    for (;;) {
        int64_t now = monotonic_ms(), next = now + 60000;
        int alive = 0;
        struct slot *starting = NULL;
        for (int i = 0; i < POOL_SLOTS && starting == NULL; i++)
            if (pool[i].state == SLOT_BUSY && pool[i].start_wanted)
                starting = &pool[i];
        if (starting != NULL) {
            /* The asking thread waits, so its settings and why stay valid. */
            starting->start_wanted = false;
            pthread_mutex_unlock(&pool_lock);
            int rc = start(starting->start_sb, -1, &starting->r, starting->start_why, starting->start_whylen);
            pthread_mutex_lock(&pool_lock);
            starting->start_rc = rc;
            starting->start_done = true;
            pthread_cond_broadcast(&pool_changed);
            continue;
        }
        for (int i = 0; i < POOL_SLOTS; i++)
            alive += pool[i].state != SLOT_FREE;
        for (int i = 0; i < POOL_SLOTS; i++) {
            struct slot *s = &pool[i];
            if (s->state != SLOT_IDLE)
                continue;
            int64_t end = s->idle_since + pool_limits.idle_ms;
            if (end <= now || alive > pool_limits.alive) {
                s->state = SLOT_BUSY;
                alive--;
                pthread_mutex_unlock(&pool_lock);
                slot_end(s);
                pthread_mutex_lock(&pool_lock);
                s->state = SLOT_FREE;
                pthread_cond_broadcast(&pool_changed);
            } else if (end < next) {
                next = end;
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = next - monotonic_ms();
        if (wait < 10)
            wait = 10;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&pool_changed, &pool_lock, &ts);
    }
    return NULL;
}

static bool slot_matches(const struct slot *s, const struct sandbox_options *sb, uid_t user,
                         const struct document_options *o)
{
    const char *gs = o->ghostscript ? o->ghostscript : "";
    return s->user == user && s->sb.uid == sb->uid && s->sb.gid == sb->gid && s->sb.converter == sb->converter &&
           s->sb.bwrap == sb->bwrap && strcmp(s->ghostscript, gs) == 0 && s->max_bytes == o->max_bytes &&
           s->render_seconds == o->render_seconds;
}

/* A slot for a document of user: an idle one of theirs (reused), or a
 * free one (to start), or the oldest idle one of another user's, ended.
 * NULL when every slot is busy or the pool is off. */
static struct slot *slot_take(const struct sandbox_options *sb, uid_t user, const struct document_options *o)
{
    struct slot *found = NULL, *free_slot = NULL, *oldest = NULL;
    int alive = 0;

    pthread_mutex_lock(&pool_lock);
    int limit = pool_alive_limit();
    if (!reaper_running && limit > 0) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        reaper_running = pthread_create(&t, &attr, reaper, NULL) == 0;
        pthread_attr_destroy(&attr);
    }
    int64_t wait_until = monotonic_ms() + POOL_WAIT_MS;
again:
    found = free_slot = oldest = NULL;
    alive = 0;
    for (int i = 0; i < POOL_SLOTS; i++) {
        struct slot *s = &pool[i];
        alive += s->state != SLOT_FREE;
        if (s->state == SLOT_IDLE && slot_matches(s, sb, user, o) && found == NULL)
            found = s;
        else if (s->state == SLOT_FREE && free_slot == NULL)
            free_slot = s;
        else if (s->state == SLOT_IDLE && (oldest == NULL || s->idle_since < oldest->idle_since))
            oldest = s;
    }
    if (!reaper_running || limit <= 0) {
        found = NULL; /* no idle ones can be ended: keep none */
        free_slot = NULL;
        oldest = NULL;
    }
    struct slot *take = found;
    bool end_it = false;
    if (take == NULL && free_slot != NULL && alive < limit) {
        take = free_slot;
    } else if (take == NULL && oldest != NULL) {
        take = oldest;
        end_it = true;
    } else if (take == NULL && reaper_running && limit > 0 && alive > 0) {
        /* Every kept sandbox is busy: a document in one takes a few
         * milliseconds, a new sandbox a hundred; wait a little for one. */
        int64_t left = wait_until - monotonic_ms();
        if (left > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += left / 1000;
            ts.tv_nsec += (left % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&pool_changed, &pool_lock, &ts);
            goto again;
        }
    }
    if (take != NULL) {
        if (take != found) {
            take->user = user;
            take->sb = *sb;
            snprintf(take->ghostscript, sizeof take->ghostscript, "%s", o->ghostscript ? o->ghostscript : "");
            take->max_bytes = o->max_bytes;
            take->render_seconds = o->render_seconds;
            take->docs = 0;
            take->max_docs = pool_limits.max_docs;
            if (!end_it)
                take->r = (struct run){.out = -1, .err = -1, .in = -1};
        }
        take->state = SLOT_BUSY;
    }
    pthread_mutex_unlock(&pool_lock);
    if (take != NULL && end_it) {
        slot_end(take);
        take->r = (struct run){.out = -1, .err = -1, .in = -1};
    }
    return take;
}

/* Writes all of buf to the sandbox's request socket by r->deadline. */
static int send_input(struct run *r, const void *buf, size_t n)
{
    size_t done = 0;

    while (done < n) {
        int w = wait_ready(r, r->in, POLLOUT);
        if (w < 0)
            return w;
        if (w > 0) {
            ssize_t k = send(r->in, (const char *)buf + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0)
                done += (size_t)k;
            else if (k < 0 && errno != EINTR && errno != EAGAIN)
                return -EPIPE;
        }
    }
    return 0;
}

/* The request and the document's bytes. */
static int send_document(struct run *r, int fd, off_t size, const struct document_options *o)
{
    unsigned char h[SANDBOX_REQUEST_BYTES];
    struct sandbox_request rq = {(uint32_t)size, (uint32_t)o->resolution, (uint32_t)o->render_seconds, o->max_bytes};
    int rc;

    sandbox_request_encode(&rq, h);
    if ((rc = send_input(r, h, sizeof h)) != 0)
        return rc;
    for (off_t off = 0; off < size;) {
        size_t want = size - off < COPY_CHUNK ? (size_t)(size - off) : COPY_CHUNK;
        ssize_t k = pread(fd, r->buf, want, off);
        if (k <= 0)
            return -EIO; /* the upload is read-only to the daemon's writers: it does not shrink */
        if ((rc = send_input(r, r->buf, (size_t)k)) != 0)
            return rc;
        off += k;
    }
    return 0;
}

/* Outcome of a document in a kept sandbox. */
enum pool_outcome { POOL_KEEP, POOL_END, POOL_RETRY };

static enum pool_outcome pool_document(struct slot *s, int fd, off_t size,
                                       struct document_options *o, struct scratch *scratch, int first_index,
                                       const struct document_sink *sink, struct document_result *res, int *rcp,
                                       char *why, size_t whylen)
{
    struct run *r = &s->r;
    bool reused = s->docs > 0;
    int rc;

    r->opt = o;
    r->got = 0;
    r->msg_len = 0;
    r->msg[0] = '\0';
    r->timed_out = false;
    r->deadline = monotonic_ms() + (int64_t)(o->render_seconds + SANDBOX_GRACE_SECONDS) * 1000;
    s->docs++;
    rc = send_document(r, fd, size, o);
    if (rc == -EIO) {
        snprintf(why, whylen, "the document cannot be read: %s", strerror(EIO));
        *rcp = -EIO;
        return POOL_END;
    }
    if (rc == 0)
        rc = read_records(r, scratch, first_index, sink, res, why, whylen);
    else {
        r->timed_out = rc == -ETIMEDOUT;
        rc = 1; /* it took no more input: see how it ended */
    }
    if (rc == 1 && r->timed_out) {
        *rcp = 1;
        return POOL_END;
    }
    if (rc == 1 && reused && r->got == 0) {
        /* A kept sandbox that ended while idle (its starting thread gone,
         * killed): the document has not been looked at; a new one. */
        return POOL_RETRY;
    }
    if (rc == 0) {
        unsigned char h[SANDBOX_HEADER_BYTES];
        int e = read_output(r, h, sizeof h);
        if (e == 0 && memcmp(h, SANDBOX_TAG_END, 4) == 0 && le32(h + 4) == 0) {
            *rcp = 0;
            return s->docs < s->max_docs ? POOL_KEEP : POOL_END;
        }
        if (e != 0) {
            r->timed_out = e == -ETIMEDOUT;
            *rcp = 1;
            return POOL_END;
        }
        snprintf(why, whylen, "the document could not be converted (the converter's answer is malformed)");
        rc = -EIO;
    }
    *rcp = rc; /* its own FAIL, or a refusal here: never reused after either */
    return POOL_END;
}

int sandbox_convert_user(const struct sandbox_options *sb, uid_t user, int fd, const struct document_options *opt,
                         int first_index, const struct document_sink *sink, struct document_result *res, char *why,
                         size_t whylen)
{
    struct document_options o = *opt;
    off_t size;
    int rc;

    if ((rc = precheck(fd, &o, res, &size, why, whylen)) != 0)
        return rc;
    if ((uint64_t)size > UINT32_MAX || o.max_bytes > SANDBOX_MAX_BYTES || o.resolution < 0 ||
        o.resolution > SANDBOX_MAX_RESOLUTION || o.render_seconds > SANDBOX_MAX_SECONDS)
        return sandbox_convert(sb, fd, opt, first_index, sink, res, why, whylen);
    struct slot *s = slot_take(sb, user, &o);
    if (s == NULL)
        return sandbox_convert(sb, fd, opt, first_index, sink, res, why, whylen);
    char *buf = malloc(COPY_CHUNK);
    struct scratch scratch;
    int sr = buf != NULL ? open_scratch(&o, &scratch, why, whylen) : -ENOMEM;
    if (buf == NULL || sr < 0) {
        free(buf);
        if (s->r.pid > 0) { /* kept: it saw nothing of this */
            pthread_mutex_lock(&pool_lock);
            s->state = SLOT_IDLE;
            pthread_cond_broadcast(&pool_changed);
            pthread_mutex_unlock(&pool_lock);
        } else {
            slot_free(s);
        }
        if (sr == -ENOMEM)
            snprintf(why, whylen, "the document cannot be converted now: out of memory; submit it again later");
        return sr;
    }
    s->r.buf = buf;
    if (s->r.pid <= 0) {
        if (!running_enter(monotonic_ms() + (int64_t)o.render_seconds * 1000)) {
            slot_free(s);
            free(buf);
            close_scratch(&scratch);
            return sandbox_convert(sb, fd, opt, first_index, sink, res, why, whylen);
        }
        s->r.opt = &o;
        s->r.cpu_docs = s->max_docs;
        pthread_mutex_lock(&pool_lock);
        s->start_sb = sb;
        s->start_why = why;
        s->start_whylen = whylen;
        s->start_done = false;
        s->start_wanted = true;
        pthread_cond_broadcast(&pool_changed);
        while (!s->start_done)
            pthread_cond_wait(&pool_changed, &pool_lock);
        rc = s->start_rc;
        pool_starts += rc == 0;
        pthread_mutex_unlock(&pool_lock);
        if (rc != 0) {
            running_leave();
            slot_free(s);
            free(buf);
            close_scratch(&scratch);
            return rc;
        }
    }
    enum pool_outcome out = pool_document(s, fd, size, &o, &scratch, first_index, sink, res, &rc, why, whylen);
    s->r.buf = NULL;
    free(buf);
    close_scratch(&scratch);
    if (out == POOL_KEEP) {
        pthread_mutex_lock(&pool_lock);
        s->state = SLOT_IDLE;
        s->idle_since = monotonic_ms();
        pthread_cond_broadcast(&pool_changed);
        pthread_mutex_unlock(&pool_lock);
        return 0;
    }
    slot_end(s);
    struct run ended = s->r;
    slot_free(s);
    ended.opt = &o;
    /* A kept sandbox that ended while idle, or a new one that could not be
     * made for want of processes: the document was not looked at; a
     * one-shot sandbox (tried again while that shortage lasts). */
    if (out == POOL_RETRY || (rc == 1 && start_was_busy(&ended)))
        return sandbox_convert(sb, fd, opt, first_index, sink, res, why, whylen);
    if (rc == 1)
        return judge_silence(sb, &ended, why, whylen);
    return rc;
}

void sandbox_pool_close(void)
{
    pthread_mutex_lock(&pool_lock);
    for (;;) {
        struct slot *s = NULL;
        bool busy = false;
        for (int i = 0; i < POOL_SLOTS && s == NULL; i++) {
            if (pool[i].state == SLOT_IDLE)
                s = &pool[i];
            busy |= pool[i].state == SLOT_BUSY;
        }
        if (s == NULL && !busy)
            break;
        if (s == NULL) {
            pthread_cond_wait(&pool_changed, &pool_lock);
            continue;
        }
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&pool_lock);
        slot_end(s);
        pthread_mutex_lock(&pool_lock);
        s->state = SLOT_FREE;
        pthread_cond_broadcast(&pool_changed);
    }
    pthread_mutex_unlock(&pool_lock);
}

int sandbox_probe(const struct sandbox_options *sb, char *why, size_t whylen)
{
    struct document_options o = {.max_bytes = 1024, .render_seconds = 5};
    struct run r = {.opt = &o, .out = -1, .err = -1, .in = -1};
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
