/*
 * notify.h - tells people what happened to their faxes: runs a hook
 * command (like mgetty's success/failure programs) and mails the owner
 * through the local sendmail. Driven by queue events on a thread of its
 * own, so a slow hook or mailer never holds up the queue.
 */
#ifndef FAXFS_NOTIFY_H
#define FAXFS_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "queue/queue.h"

/* What a job's change means for notification. */
enum notify_event { NOTIFY_NONE, NOTIFY_DONE, NOTIFY_FAILED, NOTIFY_CANCELED, NOTIFY_RETRY, NOTIFY_RECEIVED };
const char *notify_event_name(enum notify_event e);

/* Which events send mail. */
enum notify_mail_policy { NOTIFY_MAIL_NONE, NOTIFY_MAIL_FAILURES, NOTIFY_MAIL_ALL };
int notify_mail_policy_parse(const char *s, enum notify_mail_policy *out);

struct notify_config {
    const char *command;        /* run by /bin/sh -c; NULL = no hook */
    bool on_retry;              /* also run the hook on each retry */
    enum notify_mail_policy mail;
    const char *sendmail;       /* default /usr/sbin/sendmail */
    bool sendmail_run_as;       /* run sendmail as sendmail_uid/gid, not as the daemon's user */
    uid_t sendmail_uid;
    gid_t sendmail_gid;
    int timeout_seconds;        /* hook and mailer are killed after this; default 60 */
    void (*log)(int level, const char *msg);
};

/* The event a job in this state stands for; last is the event already
 * told for this job (NOTIFY_NONE if none): a final state is told once, a
 * retry once per attempt (attempts tells them apart). */
enum notify_event notify_event_of(const struct job *j, enum notify_event last, int last_attempts);

/* Environment for the hook: "FAXFS_KEY=value" strings in out (up to max,
 * each at most width bytes, values stripped of control characters).
 * Returns how many were written. */
size_t notify_environment(const struct job *j, enum notify_event e, char (*out)[256], size_t max);

/* The mail for the job's owner (a MIME message by mail_message_write(),
 * To: owner, no From: the MTA adds its user's), written to out_fd. 0, or
 * -errno with a sentence (-EINVAL when the owner has no name to mail). */
int notify_mail_write(const struct job *j, enum notify_event e, const char *owner, int out_fd, char *why,
                      size_t whylen);

/* The same message in buf. Returns its length, or -1 when the owner has
 * no name to mail or buf is too small. */
int notify_mail_message(const struct job *j, enum notify_event e, const char *owner, char *buf, size_t len);

struct notifier;
int notifier_start(struct notifier **out, struct queue *q, const struct notify_config *cfg);
/* Unsubscribes, waits (bounded) for running hooks, frees. */
void notifier_stop(struct notifier *n);

#endif
