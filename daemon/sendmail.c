/*
 * sendmail.c - runs the MTA's sendmail for one message and classifies its
 * exit status by sysexits(3): temporary troubles are retried, permanent
 * ones are not. The child is forked (not spawned) so it can change user;
 * between fork and exec it only makes async-signal-safe calls.
 */
#include "daemon/sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "daemon/mail_message.h"

#define MAX_RCPT 64

static const char *const child_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C",
    "LC_ALL=C",
    NULL,
};

const char *sendmail_result_name(enum sendmail_result r)
{
    switch (r) {
    case SENDMAIL_OK: return "ok";
    case SENDMAIL_TEMPORARY: return "temporary";
    case SENDMAIL_PERMANENT: return "permanent";
    case SENDMAIL_RUNNING: return "running";
    }
    return "?";
}

/* sysexits(3): which exit says what, and whether trying again may help. */
static const struct {
    int code;
    const char *name;
    const char *text;
    enum sendmail_result result;
} exits[] = {
    {EX_USAGE, "EX_USAGE", "command line usage error", SENDMAIL_PERMANENT},
    {EX_DATAERR, "EX_DATAERR", "data format error", SENDMAIL_PERMANENT},
    {EX_NOINPUT, "EX_NOINPUT", "cannot open input", SENDMAIL_PERMANENT},
    {EX_NOUSER, "EX_NOUSER", "addressee unknown", SENDMAIL_PERMANENT},
    {EX_NOHOST, "EX_NOHOST", "host name unknown", SENDMAIL_PERMANENT},
    {EX_UNAVAILABLE, "EX_UNAVAILABLE", "service unavailable", SENDMAIL_TEMPORARY},
    {EX_SOFTWARE, "EX_SOFTWARE", "internal software error", SENDMAIL_TEMPORARY},
    {EX_OSERR, "EX_OSERR", "system error", SENDMAIL_TEMPORARY},
    {EX_OSFILE, "EX_OSFILE", "critical OS file missing", SENDMAIL_TEMPORARY},
    {EX_CANTCREAT, "EX_CANTCREAT", "cannot create output file", SENDMAIL_TEMPORARY},
    {EX_IOERR, "EX_IOERR", "input/output error", SENDMAIL_TEMPORARY},
    {EX_TEMPFAIL, "EX_TEMPFAIL", "temporary failure", SENDMAIL_TEMPORARY},
    {EX_PROTOCOL, "EX_PROTOCOL", "remote error in protocol", SENDMAIL_PERMANENT},
    {EX_NOPERM, "EX_NOPERM", "permission denied", SENDMAIL_PERMANENT},
    {EX_CONFIG, "EX_CONFIG", "configuration error", SENDMAIL_TEMPORARY},
};

enum sendmail_result sendmail_classify(int st, char *why, size_t whylen)
{
    if (WIFSIGNALED(st)) {
        snprintf(why, whylen, "sendmail was ended by signal %d", WTERMSIG(st));
        return SENDMAIL_TEMPORARY;
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 0) {
        snprintf(why, whylen, "handed to the mail system");
        return SENDMAIL_OK;
    }
    for (size_t i = 0; i < sizeof exits / sizeof exits[0]; i++) {
        if (exits[i].code == code) {
            snprintf(why, whylen, "sendmail exited with %d (%s: %s)", code, exits[i].name, exits[i].text);
            return exits[i].result;
        }
    }
    /* Unknown: better to deliver twice than to lose the mail. */
    snprintf(why, whylen, "sendmail exited with %d", code);
    return SENDMAIL_TEMPORARY;
}

static void child_reset(struct sendmail_child *c)
{
    if (c->output_fd >= 0)
        close(c->output_fd);
    c->pid = 0;
    c->output_fd = -1;
}

/* Appends ": " and the first line of what sendmail printed to why. */
static void append_output(const struct sendmail_child *c, char *why, size_t whylen)
{
    char buf[200];
    ssize_t n = c->output_fd >= 0 ? pread(c->output_fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    size_t used = strlen(why);
    if (buf[0] && used + 3 < whylen)
        snprintf(why + used, whylen - used, ": %s", buf);
}

static int fd_high(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

/* In the child: async-signal-safe calls only. Reports a failure's errno
 * on fd 3 (close-on-exec, so silence means exec worked). */
static void child_exec(const struct sendmail_config *cfg, const char *path, char *const argv[], int msg_fd,
                       int out_fd, int err_fd)
{
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    const int sigs[] = {SIGPIPE, SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &dfl, NULL);
    int e = 0;
    if (dup2(msg_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 || dup3(err_fd, 3, O_CLOEXEC) < 0)
        e = errno;
    if (!e && close_range(4, ~0U, 0) < 0) /* before Linux 5.9: one by one */
        for (int fd = 4; fd < 65536; fd++)
            close(fd);
    if (!e && cfg->run_as && (setgroups(0, NULL) < 0 || setgid(cfg->gid) < 0 || setuid(cfg->uid) < 0))
        e = errno;
    if (!e) {
        execve(path, argv, (char *const *)child_env);
        e = errno;
    }
    (void)!write(3, &e, sizeof e);
    _exit(127);
}

enum sendmail_result sendmail_start(const struct sendmail_config *cfg, const char *sender, const char *const *rcpt,
                                    size_t nrcpt, int msg_fd, struct sendmail_child *child, char *why, size_t whylen)
{
    child->pid = 0;
    child->output_fd = -1;
    const char *path = cfg->path ? cfg->path : SENDMAIL_DEFAULT_PATH;
    child->timeout_seconds = cfg->timeout_seconds > 0 ? cfg->timeout_seconds : SENDMAIL_DEFAULT_TIMEOUT;
    if (nrcpt == 0 || nrcpt > MAX_RCPT) {
        snprintf(why, whylen, "a mail needs 1 to %d recipients, not %zu", MAX_RCPT, nrcpt);
        return SENDMAIL_PERMANENT;
    }
    if (sender && !mail_address_ok(sender)) {
        snprintf(why, whylen, "the sender address is not a plain address (local@domain)");
        return SENDMAIL_PERMANENT;
    }
    for (size_t i = 0; i < nrcpt; i++) {
        if (!mail_address_ok(rcpt[i])) {
            snprintf(why, whylen, "recipient %zu is not a plain address (local@domain)", i + 1);
            return SENDMAIL_PERMANENT;
        }
    }
    if (access(path, X_OK) != 0) {
        snprintf(why, whylen, "%s cannot be run (%s): install a mail transfer agent or point --sendmail at one", path,
                 strerror(errno));
        return SENDMAIL_TEMPORARY;
    }
    char *argv[MAX_RCPT + 8];
    size_t k = 0;
    argv[k++] = (char *)path;
    argv[k++] = "-i";
    if (sender) {
        argv[k++] = "-f";
        argv[k++] = (char *)sender;
    }
    argv[k++] = "--";
    for (size_t i = 0; i < nrcpt; i++)
        argv[k++] = (char *)rcpt[i];
    argv[k] = NULL;

    lseek(msg_fd, 0, SEEK_SET); /* a pipe stays where it is */
    int in = fd_high(msg_fd), out = -1, pipefd[2] = {-1, -1}, errw = -1;
    int mfd = memfd_create("sendmail-output", MFD_CLOEXEC);
    if (mfd >= 0) {
        out = fd_high(mfd);
        close(mfd);
    }
    if (pipe2(pipefd, O_CLOEXEC) == 0)
        errw = fd_high(pipefd[1]);
    enum sendmail_result res = SENDMAIL_TEMPORARY;
    if (in < 0 || out < 0 || errw < 0) {
        snprintf(why, whylen, "cannot start %s: %s", path, strerror(errno));
        goto done;
    }
    pid_t pid = fork();
    if (pid == 0)
        child_exec(cfg, path, argv, in, out, errw);
    if (pid < 0) {
        snprintf(why, whylen, "cannot start %s: %s", path, strerror(errno));
        goto done;
    }
    setpgid(pid, pid); /* also here: no race with a kill of the group */
    close(errw);
    errw = -1;
    close(pipefd[1]);
    pipefd[1] = -1;
    int e = 0;
    ssize_t n;
    while ((n = read(pipefd[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    if (n == sizeof e) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        snprintf(why, whylen, "cannot run %s: %s", path, strerror(e));
        goto done;
    }
    child->pid = pid;
    child->output_fd = out;
    out = -1;
    clock_gettime(CLOCK_MONOTONIC, &child->deadline);
    child->deadline.tv_sec += child->timeout_seconds;
    res = SENDMAIL_RUNNING;
done:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (errw >= 0)
        close(errw);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    return res;
}

enum sendmail_result sendmail_poll(struct sendmail_child *c, char *why, size_t whylen)
{
    if (c->pid <= 0) {
        snprintf(why, whylen, "no sendmail is running");
        return SENDMAIL_TEMPORARY;
    }
    int st;
    pid_t r;
    while ((r = waitpid(c->pid, &st, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec < c->deadline.tv_sec ||
            (now.tv_sec == c->deadline.tv_sec && now.tv_nsec < c->deadline.tv_nsec))
            return SENDMAIL_RUNNING;
        kill(-c->pid, SIGKILL);
        kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        snprintf(why, whylen, "sendmail did not finish within %d s and was killed", c->timeout_seconds);
        child_reset(c);
        return SENDMAIL_TEMPORARY;
    }
    enum sendmail_result res;
    if (r < 0) {
        snprintf(why, whylen, "sendmail was lost: %s", strerror(errno));
        res = SENDMAIL_TEMPORARY;
    } else {
        res = sendmail_classify(st, why, whylen);
        if (res != SENDMAIL_OK)
            append_output(c, why, whylen);
    }
    child_reset(c);
    return res;
}

void sendmail_abandon(struct sendmail_child *c)
{
    if (c->pid > 0) {
        kill(-c->pid, SIGKILL);
        kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    child_reset(c);
}

enum sendmail_result sendmail_deliver(const struct sendmail_config *cfg, const char *sender, const char *const *rcpt,
                                      size_t nrcpt, int msg_fd, char *why, size_t whylen)
{
    struct sendmail_child c;
    enum sendmail_result r = sendmail_start(cfg, sender, rcpt, nrcpt, msg_fd, &c, why, whylen);
    long pause_us = 2000;
    while (r == SENDMAIL_RUNNING) {
        usleep((useconds_t)pause_us);
        if (pause_us < 50000)
            pause_us *= 2;
        r = sendmail_poll(&c, why, whylen);
    }
    return r;
}
