/*
 * sched.c - the scheduling policy (see sched.h): dispatch order,
 * per-destination limit, retry delays with jitter, and the verdict after a
 * call. Every function here is pure.
 */
#include "queue/sched.h"

#include <stdlib.h>
#include <string.h>

static const int default_delay[QF_COUNT] = {
    [QF_BUSY] = SCHED_DELAY_BUSY,       [QF_NO_ANSWER] = SCHED_DELAY_NO_ANSWER,
    [QF_NO_LINE] = SCHED_DELAY_NO_LINE, [QF_NOT_FAX] = SCHED_DELAY_NOT_FAX,
    [QF_DROPPED] = SCHED_DELAY_DROPPED,
};

void sched_policy_init(struct sched_policy *p, const int retry_delay[QF_COUNT], int jitter_percent,
                       int max_attempts)
{
    for (int i = 0; i < QF_COUNT; i++)
        p->delay[i] = retry_delay != NULL && retry_delay[i] > 0 ? retry_delay[i] : default_delay[i];
    if (jitter_percent == 0)
        jitter_percent = QUEUE_DEFAULT_JITTER_PERCENT;
    p->jitter_percent = jitter_percent < 0 ? 0 : jitter_percent > 100 ? 100 : jitter_percent;
    p->max_attempts = max_attempts > 0 ? max_attempts : QUEUE_DEFAULT_MAX_ATTEMPTS;
}

int sched_retry_delay(const struct sched_policy *p, enum queue_failure f, uint32_t random)
{
    int base = (unsigned)f < QF_COUNT ? p->delay[f] : SCHED_DELAY_DROPPED;
    int span = (int)((int64_t)base * p->jitter_percent / 100);

    if (span <= 0)
        return base;
    int delay = base - span + (int)(random % (uint32_t)(2 * span + 1));
    return delay < 1 ? 1 : delay;
}

int sched_compare_due(const void *a, const void *b)
{
    const struct job_core *x = *(const struct job_core *const *)a;
    const struct job_core *y = *(const struct job_core *const *)b;

    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->submitted != y->submitted)
        return x->submitted < y->submitted ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static size_t calls_to(const char *number, const struct job_core *const *active, size_t nactive,
                       const struct job_core **candidates, const size_t *picked, size_t npicked)
{
    size_t n = 0;

    for (size_t i = 0; i < nactive; i++)
        n += strcmp(active[i]->recipient_number, number) == 0;
    for (size_t i = 0; i < npicked; i++)
        n += strcmp(candidates[picked[i]]->recipient_number, number) == 0;
    return n;
}

size_t sched_pick(const struct job_core **candidates, size_t ncandidates, const struct job_core *const *active,
                  size_t nactive, int free_channels, int per_destination_limit, size_t *picked)
{
    size_t npicked = 0;

    if (ncandidates > 1)
        qsort(candidates, ncandidates, sizeof *candidates, sched_compare_due);
    for (size_t i = 0; i < ncandidates && (int)npicked < free_channels; i++) {
        if (per_destination_limit > 0 &&
            calls_to(candidates[i]->recipient_number, active, nactive, candidates, picked, npicked) >=
                (size_t)per_destination_limit)
            continue;
        picked[npicked++] = i;
    }
    return npicked;
}

static size_t calls_keyed(const char *want, const struct job_core *const *active, size_t nactive,
                          const struct job_core **candidates, const size_t *picked, size_t npicked, sched_key_fn key,
                          void *ctx)
{
    char k[SCHED_KEY_MAX];
    size_t n = 0;

    for (size_t i = 0; i < nactive; i++) {
        key(ctx, active[i], k, sizeof k);
        n += strcmp(k, want) == 0;
    }
    for (size_t i = 0; i < npicked; i++) {
        key(ctx, candidates[picked[i]], k, sizeof k);
        n += strcmp(k, want) == 0;
    }
    return n;
}

size_t sched_batch_pick(const struct job_core *lead, const struct job_core *const *candidates, size_t ncandidates,
                        int max_jobs, sched_batch_fn same, void *ctx, size_t *picked)
{
    size_t n = 0;

    if (max_jobs <= 1)
        return 0;
    for (size_t i = 0; i < ncandidates; i++) {
        const struct job_core *c = candidates[i];
        if (c == lead || c->id == lead->id || c->owner_uid != lead->owner_uid || c->pages_sent >= c->page_count
            || strcmp(c->recipient_number, lead->recipient_number) != 0 || (same && !same(ctx, lead, c)))
            continue;
        /* insertion in dispatch order: candidate lists are short */
        size_t k = n++;
        while (k > 0 && sched_compare_due(&candidates[picked[k - 1]], &c) > 0) {
            picked[k] = picked[k - 1];
            k--;
        }
        picked[k] = i;
    }
    return n < (size_t)max_jobs - 1 ? n : (size_t)max_jobs - 1;
}

size_t sched_pick_keyed(const struct job_core **candidates, size_t ncandidates, const struct job_core *const *active,
                        size_t nactive, int free_channels, sched_key_fn key, void *ctx, size_t *picked)
{
    size_t npicked = 0;
    char k[SCHED_KEY_MAX];

    if (ncandidates > 1)
        qsort(candidates, ncandidates, sizeof *candidates, sched_compare_due);
    for (size_t i = 0; i < ncandidates && (int)npicked < free_channels; i++) {
        int limit = key(ctx, candidates[i], k, sizeof k);
        if (limit > 0 && calls_keyed(k, active, nactive, candidates, picked, npicked, key, ctx) >= (size_t)limit)
            continue;
        picked[npicked++] = i;
    }
    return npicked;
}

enum sched_verdict sched_after_call(const struct sched_policy *p, const struct job_core *job,
                                    enum queue_failure f, int64_t now, int delay, int64_t *next_attempt)
{
    int max = job->max_attempts > 0 ? job->max_attempts : p->max_attempts;

    *next_attempt = 0;
    switch (f) {
    case QF_NONE:
        if (job->pages_sent >= job->page_count)
            return SCHED_DONE;
        break; /* "success" with pages missing is a dropped call */
    case QF_ABORTED:
        return SCHED_REQUEUE;
    case QF_PERMANENT:
        return SCHED_FAIL_PERMANENT;
    default:
        break;
    }
    if (job->attempts >= max)
        return SCHED_FAIL_EXHAUSTED;
    if (job->kill_time != 0 && now + delay > job->kill_time)
        return SCHED_FAIL_KILLED;
    *next_attempt = now + delay;
    return SCHED_RETRY;
}

enum job_status sched_waiting_state(const struct job_core *job, int64_t now)
{
    if (job->scheduled > now)
        return JOB_SCHEDULED;
    if (job->next_attempt > now)
        return JOB_RETRYING;
    return JOB_QUEUED;
}

bool sched_expired(const struct job_core *job, int64_t now)
{
    return job->kill_time != 0 && now >= job->kill_time;
}

const char *sched_verdict_name(enum sched_verdict v)
{
    static const char *const names[] = {
        [SCHED_DONE] = "done",
        [SCHED_RETRY] = "retry",
        [SCHED_REQUEUE] = "requeue",
        [SCHED_FAIL_PERMANENT] = "failed: permanent error",
        [SCHED_FAIL_EXHAUSTED] = "failed: attempts exhausted",
        [SCHED_FAIL_KILLED] = "failed: kill time passed",
    };
    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "unknown";
}
