/*
 * line_exec.c - "--line exec:COMMAND": each call runs COMMAND through
 * /bin/sh -c 'COMMAND "$1"' with the normalized number as $1 (a separate
 * argument, never pasted into the shell text). We write the audio we
 * transmit to its stdin and read the audio we receive from its stdout,
 * raw 8 kHz 16-bit signed little-endian mono: one block of silence first,
 * then one sample for every sample read, so the command's clock paces
 * the call. Both pipes are non-blocking and serviced by the pool's
 * workers; no thread per call. See docs/lines.md.
 */
#include "modem/line.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "modem/elapsed.h"


#define EXEC_TX_CAP 65536              /* bytes of our audio not yet taken by the command */
#define EXEC_TX_BACKPRESSURE 16000     /* ~1 s: stop reading until the command catches up */
#define EXEC_ANSWER_TIMEOUT_S 120      /* no audio and no exit: nobody answered */
#define EXEC_SILENCE_TIMEOUT_S 30      /* audio stopped mid-call: the line is dead */
#define EXEC_HANGUP_GRACE_NS 2000000000L /* after closing stdin, before SIGKILL */

/* Exit statuses a command uses to report why there was no call. */
static const struct {
    int status;
    enum line_state state;
} exec_exit_states[] = {
    { 2, LINE_BUSY },
    { 3, LINE_NO_ANSWER },
    { 4, LINE_NO_LINE },
};

struct exec_reap {
    pid_t pid;
    struct timespec deadline;
    struct exec_reap *next;
};

struct line {
    char *command;            /* the shell text, with "$1" appended */
    pthread_mutex_t lock;     /* protects reaps (hang-ups come from every worker) */
    struct exec_reap *reaps;  /* commands told to hang up, not yet exited */
};

struct line_call {
    struct line *line;
    pid_t pid;
    int to_cmd;               /* our end of its stdin; -1 once closed */
    int from_cmd;             /* our end of its stdout; -1 after EOF */
    enum line_state state;
    bool got_audio;
    bool has_odd_byte;        /* a sample split across two reads */
    uint8_t odd_byte;
    uint8_t tx[EXEC_TX_CAP];
    size_t tx_len;
    struct timespec dialed, last_audio;
};

static int exec_create(struct line **out, const struct line_config *cfg, char *err, size_t errlen)
{
    if (!cfg->arg || !*cfg->arg) {
        snprintf(err, errlen, "exec line without a command; use --line exec:COMMAND");
        return -EINVAL;
    }
    struct line *line = calloc(1, sizeof *line);
    size_t len = strlen(cfg->arg) + sizeof " \"$1\"";
    if (!line || !(line->command = malloc(len))) {
        free(line);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(line->command, len, "%s \"$1\"", cfg->arg);
    pthread_mutex_init(&line->lock, NULL);
    *out = line;
    return 0;
}

/* Reaps commands that were hung up; past their grace, or when final,
 * they are killed. Returns whether some are still running. */
static bool exec_maintain(struct line *line, bool final)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&line->lock);
    struct exec_reap **pp = &line->reaps;
    while (*pp) {
        struct exec_reap *r = *pp;
        bool late = now.tv_sec > r->deadline.tv_sec
                    || (now.tv_sec == r->deadline.tv_sec && now.tv_nsec >= r->deadline.tv_nsec);
        pid_t got = waitpid(r->pid, NULL, WNOHANG);
        if (got == 0 && (late || final)) {
            kill(r->pid, SIGKILL);
            got = waitpid(r->pid, NULL, 0);
        }
        if (got != 0) {
            *pp = r->next;
            free(r);
        } else {
            pp = &r->next;
        }
    }
    bool pending = line->reaps != NULL;
    pthread_mutex_unlock(&line->lock);
    return pending;
}

static void exec_destroy(struct line *line)
{
    /* Let hung-up commands finish on their own for the grace period. */
    for (long i = 0; i < EXEC_HANGUP_GRACE_NS / 10000000L && exec_maintain(line, false); i++) {
        struct timespec ten_ms = { 0, 10000000L };
        nanosleep(&ten_ms, NULL);
    }
    exec_maintain(line, true);
    pthread_mutex_destroy(&line->lock);
    free(line->command);
    free(line);
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Starts the command with its stdin and stdout on our pipes. The child
 * gets default signal dispositions and an empty mask: the worker that
 * dials blocks every signal, and the daemon ignores SIGPIPE. */
static int exec_spawn(struct line_call *c, const char *command, const char *number)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return -errno;
    if (pipe2(out, O_CLOEXEC) != 0) {
        int e = errno;
        close(in[0]);
        close(in[1]);
        return -e;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    /* None of the daemon's other descriptors, and none of its environment
     * (FAXFS_SIP_PASSWORD above all): a fixed one. */
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    char *argv[] = { "/bin/sh", "-c", (char *)command, "faxfs-line", (char *)number, NULL };
    char *envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C", NULL };
    int rc = posix_spawn(&c->pid, "/bin/sh", &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
        close(in[1]);
        close(out[0]);
        return -rc;
    }
    c->to_cmd = in[1];
    c->from_cmd = out[0];
    set_nonblock(c->to_cmd);
    set_nonblock(c->from_cmd);
    return 0;
}

/* A write to a command that closed its stdin raises SIGPIPE on this
 * (blocking) thread; take it back so it is never delivered later. */
static void exec_swallow_sigpipe(void)
{
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&pipe_only, NULL, &zero) == SIGPIPE)
        ;
}

static void exec_flush(struct line_call *c)
{
    while (c->tx_len > 0 && c->to_cmd >= 0) {
        ssize_t w = write(c->to_cmd, c->tx, c->tx_len);
        if (w > 0) {
            memmove(c->tx, c->tx + w, c->tx_len - (size_t)w);
            c->tx_len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EPIPE) {
            /* The command stopped listening; whatever it still says is
             * read until it hangs up. */
            exec_swallow_sigpipe();
            close(c->to_cmd);
            c->to_cmd = -1;
            c->tx_len = 0;
        }
        return;
    }
}

static void exec_queue(struct line_call *c, const int16_t *buf, int n)
{
    for (int i = 0; i < n && c->tx_len + 2 <= sizeof c->tx; i++) {
        uint16_t v = (uint16_t)buf[i];
        c->tx[c->tx_len++] = (uint8_t)(v & 0xff);
        c->tx[c->tx_len++] = (uint8_t)(v >> 8);
    }
    exec_flush(c);
}

static int exec_dial(struct line *line, const char *number, struct line_call **out)
{
    struct line_call *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->line = line;
    c->to_cmd = c->from_cmd = -1;
    c->state = LINE_DIALING;
    clock_gettime(CLOCK_MONOTONIC, &c->dialed);
    int rc = exec_spawn(c, line->command, number);
    if (rc != 0) {
        free(c);
        return rc;
    }
    int16_t silence[LINE_BLOCK] = { 0 };
    exec_queue(c, silence, LINE_BLOCK);
    *out = c;
    return 0;
}

static enum line_state exec_state(struct line_call *c)
{
    return c->state;
}

/* The command closed its stdout: before any audio its exit status says
 * why there was no call; after audio it hung up. */
static void exec_on_eof(struct line_call *c)
{
    close(c->from_cmd);
    c->from_cmd = -1;
    if (c->got_audio) {
        c->state = LINE_HUNG_UP;
        return;
    }
}

static void exec_check_exit(struct line_call *c)
{
    int status;
    pid_t got = waitpid(c->pid, &status, WNOHANG);
    if (got != c->pid)
        return;
    c->pid = -1;
    if (c->got_audio) {
        c->state = LINE_HUNG_UP;
        return;
    }
    c->state = LINE_FAILED;
    for (size_t i = 0; i < sizeof exec_exit_states / sizeof exec_exit_states[0]; i++)
        if (WIFEXITED(status) && WEXITSTATUS(status) == exec_exit_states[i].status)
            c->state = exec_exit_states[i].state;
}

static void exec_check_timeouts(struct line_call *c)
{
    if (c->state == LINE_DIALING && elapsed_seconds(&c->dialed) > EXEC_ANSWER_TIMEOUT_S)
        c->state = LINE_NO_ANSWER;
    else if (c->state == LINE_ANSWERED && elapsed_seconds(&c->last_audio) > EXEC_SILENCE_TIMEOUT_S)
        c->state = LINE_HUNG_UP;
}

static int exec_read(struct line_call *c, int16_t *buf, int max)
{
    if (c->state != LINE_DIALING && c->state != LINE_ANSWERED)
        return -1;
    exec_flush(c);
    if (c->from_cmd < 0) {
        exec_check_exit(c);
        if (c->state == LINE_DIALING)
            exec_check_timeouts(c);
        return c->state == LINE_ANSWERED || c->state == LINE_DIALING ? 0 : -1;
    }
    if (c->tx_len > EXEC_TX_BACKPRESSURE) {
        exec_check_timeouts(c);
        return 0;
    }
    uint8_t raw[LINE_BLOCK * 2 + 1];
    size_t have = 0;
    if (c->has_odd_byte) {
        raw[have++] = c->odd_byte;
        c->has_odd_byte = false;
    }
    ssize_t r = read(c->from_cmd, raw + have, (size_t)max * 2 - have);
    if (r == 0) {
        if (have) {
            c->has_odd_byte = true;
        }
        exec_on_eof(c);
        exec_check_exit(c);
        return c->state == LINE_ANSWERED || c->state == LINE_DIALING ? 0 : -1;
    }
    if (r < 0) {
        if (have)
            c->has_odd_byte = true;
        if (errno != EAGAIN && errno != EINTR) {
            exec_on_eof(c);
            return -1;
        }
        exec_check_timeouts(c);
        return 0;
    }
    have += (size_t)r;
    if (have & 1) {
        c->odd_byte = raw[have - 1];
        c->has_odd_byte = true;
        have--;
    }
    int n = (int)(have / 2);
    for (int i = 0; i < n; i++)
        buf[i] = (int16_t)(uint16_t)(raw[2 * i] | (raw[2 * i + 1] << 8));
    if (n > 0) {
        clock_gettime(CLOCK_MONOTONIC, &c->last_audio);
        if (!c->got_audio) {
            c->got_audio = true;
            c->state = LINE_ANSWERED;
        }
    }
    return n;
}

static void exec_write(struct line_call *c, const int16_t *buf, int n)
{
    if (c->to_cmd >= 0)
        exec_queue(c, buf, n);
}

static int exec_poll_fd(struct line_call *c)
{
    return c->from_cmd;
}

/* Hang up: close its stdin, let it exit on its own for a moment (the
 * pool's maintain pass reaps it), then kill it. */
static void exec_hangup(struct line_call *c)
{
    if (c->to_cmd >= 0)
        close(c->to_cmd);
    if (c->from_cmd >= 0)
        close(c->from_cmd);
    if (c->pid > 0 && waitpid(c->pid, NULL, WNOHANG) == 0) {
        struct exec_reap *r = calloc(1, sizeof *r);
        if (!r) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
        } else {
            r->pid = c->pid;
            clock_gettime(CLOCK_MONOTONIC, &r->deadline);
            r->deadline.tv_sec += EXEC_HANGUP_GRACE_NS / 1000000000L;
            r->deadline.tv_nsec += EXEC_HANGUP_GRACE_NS % 1000000000L;
            if (r->deadline.tv_nsec >= 1000000000L) {
                r->deadline.tv_nsec -= 1000000000L;
                r->deadline.tv_sec++;
            }
            pthread_mutex_lock(&c->line->lock);
            r->next = c->line->reaps;
            c->line->reaps = r;
            pthread_mutex_unlock(&c->line->lock);
        }
    }
    free(c);
}

const struct line_driver line_exec_driver = {
    .name = "exec",
    .clock = LINE_CLOCK_FD,
    .create = exec_create,
    .destroy = exec_destroy,
    .dial = exec_dial,
    .state = exec_state,
    .read = exec_read,
    .write = exec_write,
    .poll_fd = exec_poll_fd,
    .hangup = exec_hangup,
    .maintain = exec_maintain,
};
