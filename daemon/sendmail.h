/*
 * sendmail.h - hands a finished message to the system's mail transfer
 * agent through its sendmail program, with the recipients on the command
 * line (never -t: headers may carry outside text), a time limit, and an
 * answer the caller can act on: delivered to the MTA, try again later, or
 * give up.
 *
 * Two ways to use it: sendmail_deliver() blocks until sendmail ends or its
 * time runs out (for a worker thread of its own); sendmail_start() plus
 * sendmail_poll() never block (for a thread that serves many).
 */
#ifndef FAXFS_SENDMAIL_H
#define FAXFS_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define SENDMAIL_DEFAULT_PATH "/usr/sbin/sendmail"
#define SENDMAIL_DEFAULT_TIMEOUT 60

/* What became of a message. */
enum sendmail_result {
    SENDMAIL_OK = 0,        /* the MTA took it (queued or delivered) */
    SENDMAIL_TEMPORARY = 1, /* retry later: EX_TEMPFAIL and other passing troubles,
                               sendmail missing or not runnable, killed at the time limit */
    SENDMAIL_PERMANENT = 2, /* retrying the same message will not help: EX_NOUSER,
                               EX_DATAERR, EX_USAGE, a refused address ... */
    SENDMAIL_RUNNING = 3,   /* sendmail_poll() only: not finished yet */
};
const char *sendmail_result_name(enum sendmail_result r);

struct sendmail_config {
    const char *path;    /* NULL: SENDMAIL_DEFAULT_PATH */
    int timeout_seconds; /* <= 0: SENDMAIL_DEFAULT_TIMEOUT; then it is killed */
    /* Run sendmail as this user and group (with no supplementary groups)
     * instead of the daemon's own (root); only when run_as is set. */
    bool run_as;
    uid_t uid;
    gid_t gid;
};

/* One running sendmail. */
struct sendmail_child {
    pid_t pid;                 /* 0: none (finished or never started) */
    struct timespec deadline;  /* CLOCK_MONOTONIC */
    int timeout_seconds;
    int output_fd;             /* what sendmail printed (an anonymous file), or -1 */
};

/* Starts sendmail -i [-f sender] -- rcpt... reading the message from
 * msg_fd (from offset 0 when it is seekable; the caller may close it
 * afterwards). Its environment is only PATH and LANG/LC_ALL=C, it gets
 * none of the caller's other fds, and it runs in a process group of its
 * own (killed as a whole at the time limit). sender NULL: no -f (the MTA
 * uses the user it runs as). Returns SENDMAIL_RUNNING with *child filled,
 * or a failure class with a sentence in why (a refused address is
 * permanent; sendmail missing or a failed start temporary). */
enum sendmail_result sendmail_start(const struct sendmail_config *cfg, const char *sender, const char *const *rcpt,
                                    size_t nrcpt, int msg_fd, struct sendmail_child *child, char *why, size_t whylen);

/* Whether the child has finished: SENDMAIL_RUNNING (never blocks), or its
 * result with a sentence in why ("sendmail exited with 67 (EX_NOUSER:
 * addressee unknown)"). Past the deadline the child's process group is
 * killed and reaped, and the result is SENDMAIL_TEMPORARY. Once a result
 * is returned, child->pid is 0. */
enum sendmail_result sendmail_poll(struct sendmail_child *child, char *why, size_t whylen);

/* Kills and reaps a child that is still running (when the caller shuts
 * down): no zombie, no orphaned sendmail. */
void sendmail_abandon(struct sendmail_child *child);

/* sendmail_start() then waits (up to the time limit) for the result. */
enum sendmail_result sendmail_deliver(const struct sendmail_config *cfg, const char *sender, const char *const *rcpt,
                                      size_t nrcpt, int msg_fd, char *why, size_t whylen);

/* The class of a wait() status of sendmail, with a sentence in why. */
enum sendmail_result sendmail_classify(int wait_status, char *why, size_t whylen);

#endif
