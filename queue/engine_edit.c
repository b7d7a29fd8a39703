/*
 * engine_edit.c - changing a queued job (HylaFAX faxalter): its time to
 * send, kill time, priority, attempts, recipient number and name, while it
 * waits or is paused. The value is parsed as a draft's would be, the
 * lifecycle table decides whether the job may change now, and the change is
 * persisted before anyone hears of it.
 */
#include "queue/engine.h"
#include "queue/dialplan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const edit_fields[] = {"scheduled",    "kill_time",        "priority",
                                          "max_attempts", "recipient_number", "recipient_name"};
enum { F_SCHEDULED, F_KILL_TIME, F_PRIORITY, F_MAX_ATTEMPTS, F_NUMBER, F_NAME, F_COUNT };

static int field_index(const char *name)
{
    for (int i = 0; i < F_COUNT; i++)
        if (strcmp(edit_fields[i], name) == 0)
            return i;
    return -1;
}

bool queue_edit_field_known(const char *name) { return field_index(name) >= 0; }

bool engine_priority_allowed(const struct queue *q, const struct queue_caller *who, int priority)
{
    return priority <= JOB_PRIORITY_NORMAL || !q->cfg.restrict_priority || queue_caller_is_admin(q, who)
        || engine_caller_in_group(who, q->cfg.priority_gid);
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Applies field = value to a copy of the job; -EINVAL/-EPERM with why. */
static int apply(struct queue *q, const struct queue_caller *who, struct job_core *j, int f, const char *value,
                 char *why, size_t whylen)
{
    int64_t t = engine_now(q), v64;
    int v;

    switch (f) {
    case F_SCHEDULED:
        if (!value[0]) {
            v64 = 0;
        } else if (job_parse_time(value, t, &v64) != 0) {
            snprintf(why, whylen, "scheduled: '%.40s' is not a time; write e.g. 2026-12-24T09:00, +2h or now", value);
            return -EINVAL;
        }
        j->scheduled = v64 > t ? v64 : 0;
        if (j->kill_time != 0 && j->kill_time <= (j->scheduled ? j->scheduled : t)) {
            snprintf(why, whylen, "scheduled: the job would be killed before it is sent (kill_time %lld); "
                     "change kill_time first", (long long)j->kill_time);
            return -EINVAL;
        }
        j->next_attempt = 0; /* the new time replaces a planned retry */
        return 0;
    case F_KILL_TIME: {
        int64_t start = j->scheduled > t ? j->scheduled : t;
        if (!value[0]) {
            v64 = start + q->cfg.kill_after;
        } else if (job_parse_time(value, t, &v64) != 0) {
            snprintf(why, whylen, "kill_time: '%.40s' is not a time; write e.g. 2026-12-24T18:00 or +3h", value);
            return -EINVAL;
        }
        if (v64 <= start) {
            snprintf(why, whylen, "kill_time: it must be after the time to send and after now");
            return -EINVAL;
        }
        j->kill_time = v64;
        return 0;
    }
    case F_PRIORITY:
        if (!value[0]) {
            v = JOB_PRIORITY_NORMAL;
        } else if (job_parse_priority(value, &v) != 0) {
            snprintf(why, whylen, "priority: '%.40s' is not low, normal, high or a number 0-255", value);
            return -EINVAL;
        }
        if (!engine_priority_allowed(q, who, v)) {
            snprintf(why, whylen, "priority: above normal is for members of the priority group (--priority-group)");
            return -EPERM;
        }
        j->priority = v;
        return 0;
    case F_MAX_ATTEMPTS: {
        char *end;
        long n = value[0] ? strtol(value, &end, 10) : q->cfg.max_attempts;
        if (value[0] && (*end || n < 1 || n > 1000)) {
            snprintf(why, whylen, "max_attempts: '%.40s' is not a number from 1 to 1000", value);
            return -EINVAL;
        }
        if (n < j->attempts + (j->status == JOB_RETRYING ? 1 : 0)) {
            snprintf(why, whylen, "max_attempts: the job has made %d attempts; give at least %d", j->attempts,
                     j->attempts + 1);
            return -EINVAL;
        }
        j->max_attempts = (int)n;
        return 0;
    }
    case F_NUMBER: {
        /* The same checks as at submission: dial rules, refusals, and the
         * new destination's page limit. */
        char number[JOB_NUMBER_MAX];
        int r = queue_check_number(q, value, number, sizeof number, why, whylen);
        if (r != 0)
            return r;
        struct dialplan_controls c;
        dialplan_controls(q->cfg.dialplan, number, &c);
        if (c.max_pages > 0 && j->page_count > c.max_pages) {
            snprintf(why, whylen, "recipient_number: [destination %s] takes at most %d pages; the job has %d",
                     c.pattern, c.max_pages, j->page_count);
            return -EFBIG;
        }
        snprintf(j->recipient_number, sizeof j->recipient_number, "%s", number);
        snprintf(j->submitted_number, sizeof j->submitted_number, "%s", value);
        return 0;
    }
    case F_NAME:
        if (strlen(value) >= sizeof j->recipient_name || has_control(value)) {
            snprintf(why, whylen, "recipient_name: at most %zu characters, no control characters",
                     sizeof j->recipient_name - 1);
            return -EINVAL;
        }
        snprintf(j->recipient_name, sizeof j->recipient_name, "%s", value);
        return 0;
    }
    return -EINVAL;
}

int queue_edit(struct queue *q, const struct queue_caller *who, uint64_t id, const char *field, const char *value,
               char *why, size_t whylen)
{
    struct notes n = {0};
    int r = 0, f = field_index(field);

    if (f < 0) {
        snprintf(why, whylen, "%.40s cannot be changed; the fields that can are scheduled, kill_time, priority, "
                 "max_attempts, recipient_number and recipient_name", field);
        return -EINVAL;
    }
    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if ((r = engine_check_access(q, who, qj, id, "change", why, whylen)) != 0)
        goto out;
    if (!job_edit_allowed(qj->j.type, qj->j.status) || qj->channel >= 0) {
        bool on_call = qj->j.status == JOB_ACTIVE || qj->channel >= 0;
        snprintf(why, whylen, "job %llu is %s; %s", (unsigned long long)id, job_status_name(qj->j.status),
                 qj->j.type != JOB_SEND ? "a received fax cannot be changed"
                 : on_call              ? "it is on a call: pause it first, or change it when the call has ended"
                                        : "a finished job cannot be changed: restart it first");
        r = -EBUSY;
        goto out;
    }
    struct job_core saved = qj->j;
    char before[JOB_TEXT_MAX + 32], after[JOB_TEXT_MAX + 32];
    if ((r = apply(q, who, &qj->j, f, value, why, whylen)) != 0) {
        qj->j = saved;
        goto out;
    }
    if (qj->j.status != JOB_PAUSED)
        qj->j.status = sched_waiting_state(&qj->j, engine_now(q));
    switch (f) {
    case F_SCHEDULED:
        job_format_time(saved.scheduled, before, sizeof before);
        job_format_time(qj->j.scheduled, after, sizeof after);
        break;
    case F_KILL_TIME:
        job_format_time(saved.kill_time, before, sizeof before);
        job_format_time(qj->j.kill_time, after, sizeof after);
        break;
    case F_PRIORITY:
        job_format_priority(saved.priority, before, sizeof before);
        job_format_priority(qj->j.priority, after, sizeof after);
        break;
    case F_MAX_ATTEMPTS:
        snprintf(before, sizeof before, "%d", saved.max_attempts);
        snprintf(after, sizeof after, "%d", qj->j.max_attempts);
        break;
    case F_NUMBER:
        snprintf(before, sizeof before, "%s", saved.recipient_number);
        snprintf(after, sizeof after, "%s", qj->j.recipient_number);
        break;
    default:
        snprintf(before, sizeof before, "\"%s\"", saved.recipient_name);
        snprintf(after, sizeof after, "\"%s\"", qj->j.recipient_name);
        break;
    }
    engine_job_log(q, &n, id, "%s changed from %s to %s by uid %lu", field, before[0] ? before : "(none)",
                   after[0] ? after : "(none)", (unsigned long)who->uid);
    if ((r = engine_store(q, qj, &n)) != 0) {
        qj->j = saved;
        snprintf(why, whylen, "job %llu could not be updated in the spool: %s; nothing changed", (unsigned long long)id,
                 strerror(-r));
        goto out;
    }
    engine_poke(q);
out:
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
    return r;
}
