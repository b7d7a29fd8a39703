/*
 * sched.h - scheduling policy as pure functions: which due jobs go first,
 * the per-destination limit, how long to wait after each kind of failure,
 * and what a job becomes after a call. No locks, no clock, no I/O: the
 * engine passes everything in, so tests check the policy directly.
 */
#ifndef FAXFS_QUEUE_SCHED_H
#define FAXFS_QUEUE_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

/* HylaFAX-like defaults, seconds. */
#define SCHED_DELAY_BUSY 180
#define SCHED_DELAY_NO_ANSWER 300
#define SCHED_DELAY_NO_LINE 300
#define SCHED_DELAY_NOT_FAX 300
#define SCHED_DELAY_DROPPED 60

struct sched_policy {
    int delay[QF_COUNT];  /* seconds per failure class, defaults filled in */
    int jitter_percent;   /* 0: exact delays */
    int max_attempts;     /* default for jobs that carry 0 */
};

/* Fills a policy from the engine configuration (0 means default). */
void sched_policy_init(struct sched_policy *p, const int retry_delay[QF_COUNT], int jitter_percent,
                       int max_attempts);

/* The delay before the next attempt after failure f: the class's delay
 * moved by up to +-jitter_percent, chosen by random (any 32-bit value). */
int sched_retry_delay(const struct sched_policy *p, enum queue_failure f, uint32_t random);

/* Dispatch order: higher priority first, then older (submitted), then
 * lower id. qsort-compatible over `const struct job_core *` elements. */
int sched_compare_due(const void *a, const void *b);

/* Orders candidates (queued jobs) in place and chooses which to start now:
 * at most free_channels, and never more than per_destination_limit calls
 * to one number counting the calls already active (0 = unlimited).
 * Writes indexes into candidates (after sorting) to picked; returns how
 * many. */
size_t sched_pick(const struct job_core **candidates, size_t ncandidates, const struct job_core *const *active,
                  size_t nactive, int free_channels, int per_destination_limit, size_t *picked);

/* The same with a limit per group of numbers: key() names the group of a
 * job (jobs with equal keys count together) into key and returns its
 * limit (0 = unlimited). */
typedef int (*sched_key_fn)(void *ctx, const struct job_core *job, char *key, size_t keylen);
#define SCHED_KEY_MAX 80
size_t sched_pick_keyed(const struct job_core **candidates, size_t ncandidates, const struct job_core *const *active,
                        size_t nactive, int free_channels, sched_key_fn key, void *ctx, size_t *picked);

/* Batching: the further jobs that go in lead's call. A candidate joins
 * when it has lead's owner (the remote sees one station id and page
 * header per call: another owner's fax in it would go out under lead's
 * name) and lead's canonical number, has pages left to send, and same()
 * says the call's settings suit it. Chosen in dispatch order, at most
 * max_jobs - 1 of them (the call carries lead first). picked needs room
 * for ncandidates indexes; returns how many were chosen. */
typedef bool (*sched_batch_fn)(void *ctx, const struct job_core *lead, const struct job_core *candidate);
size_t sched_batch_pick(const struct job_core *lead, const struct job_core *const *candidates, size_t ncandidates,
                        int max_jobs, sched_batch_fn same, void *ctx, size_t *picked);

enum sched_verdict {
    SCHED_DONE,
    SCHED_RETRY,             /* next_attempt set */
    SCHED_REQUEUE,           /* interrupted, not a failure: queued again */
    SCHED_FAIL_PERMANENT,
    SCHED_FAIL_EXHAUSTED,    /* max attempts reached */
    SCHED_FAIL_KILLED,       /* the next attempt would be after the kill time */
};

/* What a job becomes after its call ended with failure f at now. job holds
 * the attempts already counted (including this one) and pages_sent
 * updated. delay is from sched_retry_delay(). */
enum sched_verdict sched_after_call(const struct sched_policy *p, const struct job_core *job,
                                    enum queue_failure f, int64_t now, int delay, int64_t *next_attempt);

/* The waiting state a job should be in at now when it is not held and not
 * on a modem: scheduled, retrying or queued. */
enum job_status sched_waiting_state(const struct job_core *job, int64_t now);

/* True when a waiting job's kill time has passed. */
bool sched_expired(const struct job_core *job, int64_t now);

const char *sched_verdict_name(enum sched_verdict v);

#endif
