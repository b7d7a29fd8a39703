/*
 * render.c - runs Ghostscript on one submitted PDF or PostScript document.
 * The child gets the document on fd 0, the output file on fd 3, a pipe
 * for its messages on fds 1 and 2, and nothing else: no shell, a fixed
 * environment, -dSAFER (no file access beyond its input and output),
 * resource limits on file size, CPU and memory, and SIGKILL when the wall
 * clock limit passes. Only async-signal-safe calls run between fork and
 * exec, since the daemon has threads.
 */
#include "queue/render.h"

#include "queue/raster.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define A4_LENGTH_INCHES 11.69
#define GS_MEMORY_LIMIT (1ul << 30) /* address space of the child */
#define GS_MESSAGE_MAX 400          /* bytes of its messages kept for the sentence */
#define POLL_MS 50

struct gs_args {
    char *argv[24];
    char device_size[32], resolution[32], last_page[32];
};

static void build_args(const struct render_options *opt, struct gs_args *a)
{
    float ydpi = raster_y_dpi(opt->resolution);
    int n = 0;

    /* A page 1728 dots (8.47 in) wide and A4 long: FitPage scales A4 and
     * Letter originals onto it, keeping their proportions. */
    snprintf(a->device_size, sizeof a->device_size, "-g%dx%d", RASTER_FAX_WIDTH,
             (int)(A4_LENGTH_INCHES * ydpi));
    snprintf(a->resolution, sizeof a->resolution, "-r%.0fx%.0f", (double)RASTER_FAX_X_DPI, (double)ydpi);
    snprintf(a->last_page, sizeof a->last_page, "-dLastPage=%d", opt->max_pages);
    char *fixed_head[] = {(char *)opt->ghostscript, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dNOPROMPT",
                          "-sDEVICE=tiffg4", a->resolution, a->device_size, "-dFIXEDMEDIA", "-dFitPage",
                          "-dPDFFitPage", a->last_page, "-sOutputFile=/dev/fd/3", "-f", "/dev/fd/0", NULL};
    for (char **p = fixed_head; *p != NULL; p++)
        a->argv[n++] = *p;
    a->argv[n] = NULL;
}

static void limit(int resource, rlim_t value)
{
    struct rlimit rl = {value, value};
    setrlimit(resource, &rl);
}

/* In the child: only async-signal-safe calls. Never returns. */
static void exec_child(const struct render_options *opt, char *const argv[], int in_fd, int out_fd, int msg_fd)
{
    static char *const envp[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", "TMPDIR=/tmp", NULL};
    sigset_t none;

    /* Out of the way first, so the dup2 calls below cannot clobber them. */
    int in = fcntl(in_fd, F_DUPFD, 10), out = fcntl(out_fd, F_DUPFD, 10), msg = fcntl(msg_fd, F_DUPFD, 10);
    if (in < 0 || out < 0 || msg < 0 || dup2(in, 0) < 0 || dup2(msg, 1) < 0 || dup2(msg, 2) < 0 ||
        dup2(out, 3) < 0)
        _exit(126);
    if (close_range(4, ~0u, 0) != 0)
        for (int fd = 4; fd < 1024; fd++)
            close(fd);
    limit(RLIMIT_FSIZE, (rlim_t)opt->max_output);
    limit(RLIMIT_CPU, (rlim_t)opt->seconds + 5);
    limit(RLIMIT_AS, GS_MEMORY_LIMIT);
    limit(RLIMIT_CORE, 0);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGXFSZ, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    execve(opt->ghostscript, argv, envp);
    _exit(127);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct outcome {
    int status;
    bool timed_out;
    char message[GS_MESSAGE_MAX + 1];
    size_t message_len;
};

/* Collects the child's messages until it exits or its time is up. */
static void supervise(pid_t pid, int msg_fd, int seconds, struct outcome *o)
{
    int64_t deadline = monotonic_ms() + (int64_t)seconds * 1000;
    struct pollfd pfd = {msg_fd, POLLIN, 0};
    char buf[512];

    for (;;) {
        int64_t left = deadline - monotonic_ms();
        if (poll(&pfd, 1, left < POLL_MS ? (int)(left > 0 ? left : 0) : POLL_MS) > 0) {
            ssize_t n = read(pfd.fd, buf, sizeof buf);
            if (n > 0 && o->message_len < GS_MESSAGE_MAX) {
                size_t take = (size_t)n < GS_MESSAGE_MAX - o->message_len ? (size_t)n : GS_MESSAGE_MAX - o->message_len;
                memcpy(o->message + o->message_len, buf, take);
                o->message_len += take;
            } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                pfd.fd = -1; /* closed: poll() now only waits */
            }
        }
        if (waitpid(pid, &o->status, WNOHANG) == pid)
            return;
        if (monotonic_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &o->status, 0) < 0 && errno == EINTR)
                ;
            o->timed_out = true;
            return;
        }
    }
}

/* The first line of Ghostscript's messages, printable, for the sentence. */
static void first_line(const struct outcome *o, char *out, size_t outlen)
{
    size_t n = 0, i = 0;

    while (i < o->message_len && (o->message[i] == '\n' || o->message[i] == ' '))
        i++;
    for (; i < o->message_len && o->message[i] != '\n' && n + 1 < outlen && n < 120; i++)
        out[n++] = (o->message[i] >= 0x20 && o->message[i] < 0x7f) ? o->message[i] : '?';
    out[n] = '\0';
}

static int judge(const struct render_options *opt, const struct outcome *o, int out_fd, const char *what, char *why,
                 size_t whylen)
{
    struct stat st = {0};
    char msg[128];

    if (o->timed_out) {
        snprintf(why, whylen, "%s took longer than %d seconds to render; simplify it (or print it to a new PDF)",
                 what, opt->seconds);
        return -ETIMEDOUT;
    }
    bool full = fstat(out_fd, &st) == 0 && (uint64_t)st.st_size >= opt->max_output;
    if ((WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGXFSZ) || full) {
        snprintf(why, whylen, "%s renders to more than %llu bytes of fax pages; split it into smaller documents",
                 what, (unsigned long long)opt->max_output);
        return -EFBIG;
    }
    if (WIFEXITED(o->status) && WEXITSTATUS(o->status) == 127) {
        snprintf(why, whylen, "Ghostscript (%s) cannot be run, so %s cannot be rendered; install ghostscript",
                 opt->ghostscript, what);
        return -ENOENT;
    }
    if (!WIFEXITED(o->status) || WEXITSTATUS(o->status) != 0) {
        first_line(o, msg, sizeof msg);
        snprintf(why, whylen, "%s cannot be rendered (%s); save or print it again as a new PDF", what,
                 msg[0] ? msg : "Ghostscript failed");
        return -EINVAL;
    }
    if (st.st_size == 0) {
        snprintf(why, whylen, "%s has no pages; submit a document with at least one page", what);
        return -EINVAL;
    }
    return 0;
}

int render_ghostscript(const struct render_options *opt, int in_fd, int out_fd, const char *what, char *why,
                       size_t whylen)
{
    struct outcome o = {0};
    struct gs_args a;
    int pipefd[2];

    if (opt->ghostscript == NULL || access(opt->ghostscript, X_OK) != 0) {
        snprintf(why, whylen, "Ghostscript (%s) is not installed, so %s cannot be rendered; install ghostscript",
                 opt->ghostscript ? opt->ghostscript : "gs", what);
        return -ENOENT;
    }
    build_args(opt, &a);
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "%s cannot be rendered now: %s; submit it again later", what, strerror(errno));
        return -errno;
    }
    if (ftruncate(out_fd, 0) != 0 || lseek(in_fd, 0, SEEK_SET) < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        snprintf(why, whylen, "%s cannot be rendered: %s", what, strerror(errno));
        return -EIO;
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_child(opt, a.argv, in_fd, out_fd, pipefd[1]);
    int err = errno;
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        snprintf(why, whylen, "%s cannot be rendered now: %s; submit it again later", what, strerror(err));
        return -EAGAIN;
    }
    supervise(pid, pipefd[0], opt->seconds, &o);
    close(pipefd[0]);
    return judge(opt, &o, out_fd, what, why, whylen);
}
