/*
 * engine.h - private to the engine files: struct queue, the job record the
 * engine keeps in memory, the events gathered under the lock, and the few
 * helpers every engine file shares (clock, logs, notes, persist). Nothing
 * outside queue/engine*.c includes it; everyone else uses queue/queue.h.
 */
#ifndef FAXFS_QUEUE_ENGINE_H
#define FAXFS_QUEUE_ENGINE_H

#include "queue/backend.h"
#include "queue/queue.h"
#include "queue/sandbox.h"
#include "queue/sched.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_LISTENERS 8

/* One job in memory: its core fields, and its delivery records apart,
 * exactly ndeliveries of them (NULL when none): nearly every job has none,
 * and the eight records of a struct job are 5 KB; so are the long texts
 * most jobs leave empty (docs/queue.md "Memory").
 * engine_job_get() makes the full struct job; engine_persist_job() stores
 * one and makes it the job's state. */
struct qjob {
    struct job_core j;
    int ndeliveries;
    struct job_delivery *deliveries;
    /* The JOB_EXTRA_FIELDS texts, each followed by its NUL, in their
     * order; NULL when all are empty. */
    char *extra;
    int channel;      /* >= 0 while a call for this job is on that channel */
    int route_pos;    /* position in its route of the line to try (failover within an attempt) */
    int64_t page_mark; /* start of the page now on the line (metrics only) */
    /* Batching (engine_batch.c): != 0 while the job rides in the call
     * dialed for that job (channel >= 0 then); batch_begun once its turn
     * in the call came, which is when its attempt counts. */
    uint64_t batch_lead;
    bool batch_begun;
    int64_t lease_at; /* when this node last claimed or renewed the job's lease (backends with claim) */
    bool unsaved;     /* its last change could not be stored: written again by the dispatcher */
    /* Its lease was lost during its call (another node took the job, or it
     * is gone from the store: lease_gone): the call is aborted and nothing
     * of it is written; qj shows the job as stored (engine_lease_lost). */
    bool lease_lost, lease_gone;
    /* A reception this node answers (its lease is renewed with the calls'). */
    bool receiving_here;
    /* Several nodes (engine_sync.c): the job as another node last wrote
     * it is active there until lease_end (this node's clock); a claim
     * refused is not tried again before claim_after. */
    int64_t lease_end, claim_after;
};

struct channel {
    char name[JOB_MODEM_MAX];
    int line;     /* index into queue.lines */
    uint64_t job; /* 0 when idle; freed only by the call's finished report; the job on the line */
    uint64_t lead;  /* the job the call was dialed for */
    int batch_left; /* jobs of the call not yet reported (1 without batching) */
    uint64_t calls, pages_sent, errors;
    int64_t busy_since; /* when the current call was handed over */
    bool abort_lost; /* a job of its call lost its lease: the dispatcher aborts the call */
};

/* One named line: channels first .. first + count - 1. */
struct qline {
    char name[JOB_LINE_MAX];
    char *spec;
    int first, count;
    uint64_t calls, failures, pages_sent;
    char last_error[JOB_ERROR_CODE_MAX + JOB_ERROR_TEXT_MAX + 2];
};

struct listener {
    queue_listener fn;
    void *ctx;
};

/* Events gathered under the lock and delivered after it is released. */
struct notes {
    struct {
        enum queue_event ev;
        uint64_t id;
    } *v;
    size_t n, cap;
    bool server;
};

struct queue {
    struct queue_config cfg; /* defaults filled in; spool_dir points to spool_dir_copy */
    char *spool_dir_copy;
    char *ghostscript_copy;
    char *converter_copy, *bwrap_copy;
    struct sandbox_options sandbox; /* from cfg, with the copies above */
    const struct queue_backend *be;
    void *bs; /* backend state */
    struct sched_policy policy;

    /* lock protects every field below it, all job state and the backend
     * calls that are not staging. */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* dispatcher: something changed */
    pthread_cond_t idle; /* queue_stop: a channel became free */
    struct qjob **jobs;  /* sorted by id */
    size_t njobs, cap;
    struct channel *channels;
    int nchannels;
    struct qline *lines; /* fixed at open */
    int nlines;
    struct route *routes;
    int nroutes;
    bool paused, stopping, stopped, kick;
    int64_t next_purge;
    /* Jobs whose last change the store refused (its database away, say):
     * how many, when the dispatcher writes them again, and the back-off. */
    size_t nunsaved;
    int64_t unsaved_retry_at;
    int unsaved_backoff;
    int64_t claim_retry_at; /* a claim failed in the store: dispatch again then (0: none) */
    uint32_t rng;
    struct queue_metrics counters; /* since open; summary is filled on demand */
    pthread_t thread;
    bool have_thread;

    /* line_lock serializes line.start and line.abort so an abort can never
     * hit a call started for another job on the same channel. Taken before
     * lock, never while holding it. */
    pthread_mutex_t line_lock;

    pthread_mutex_t sub_lock; /* protects listeners, nlisteners, delivering */
    pthread_cond_t delivered; /* signalled when delivering drops to 0 */
    struct listener listeners[MAX_LISTENERS];
    int nlisteners;
    int delivering; /* engine_deliver() calls running their listener copies */

    /* pdf_lock: one job's PDF is made at a time (queue_open_pdf), so two
     * first readers do not both make it and many cannot load the daemon.
     * Taken without lock held; lock is taken (briefly) inside it. */
    pthread_mutex_t pdf_lock;

    /* Loading in the background (engine_load.c), under lock: the ids
     * listed at open, in order; those before load_pos are done; taken[i]
     * marks one loaded out of turn (asked for by id) or already tried. */
    bool loading;
    uint64_t *pending;
    unsigned char *taken;
    size_t npending, load_pos, loaded;
    size_t taken_ahead; /* taken[] set at or after load_pos */
    /* The store's ids were trusted (backend ids_trusted): the list comes
     * from the loader (listing true until then), and a job asked for by id
     * meanwhile is loaded straight from the store when below list_below,
     * the first id handed out by this run. */
    bool listing;
    uint64_t list_below;
    bool load_due; /* the batch loaded a job that is due now */
    struct notes load_notes; /* events of loads, delivered by the loader */
    pthread_t loader;
    bool have_loader;
    int64_t load_started_ms;

    /* Several nodes (engine_sync.c): the catch-up thread. */
    pthread_t syncer;
    bool have_syncer;
};

/* engine_jobs.c: the clock, logs, the job table, notes and persist. */
int64_t engine_now(const struct queue *q);
void engine_log(struct queue *q, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Queues an event for listeners; engine_deliver() sends them after the lock. */
void engine_note(struct notes *n, enum queue_event ev, uint64_t id);
void engine_deliver(struct queue *q, struct notes *n);
/* Wakes the dispatcher; called with the lock held. */
void engine_poke(struct queue *q);
/* The job, loaded first when it is stored but not loaded yet. */
struct qjob *engine_find_job(struct queue *q, uint64_t id);
int engine_insert_job(struct queue *q, const struct job *job);
/* Makes job qj's state in memory, unwritten (another node's change). */
int engine_job_set(struct qjob *qj, const struct job *job);
/* The node calling qj's job, "" when none (it is kept with the packed
 * texts); engine_job_clear_node forgets it in memory. */
void engine_job_node(const struct qjob *qj, char *out, size_t len);
void engine_job_clear_node(struct qjob *qj);
void engine_remove_job(struct queue *q, struct qjob *qj);
/* Frees qj and what it holds (it is in no table). */
void engine_free_job(struct qjob *qj);
void engine_job_log(struct queue *q, struct notes *n, uint64_t id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Writes the job; the caller tells listeners only after this. A job whose
 * write fails is marked unsaved and written again by the dispatcher
 * (engine_save_unsaved), first after ENGINE_UNSAVED_FIRST_RETRY seconds,
 * then backing off to ENGINE_UNSAVED_MAX_RETRY; it is not dialed
 * meanwhile. */
#define ENGINE_UNSAVED_FIRST_RETRY 1
#define ENGINE_UNSAVED_MAX_RETRY 60
int engine_persist(struct queue *q, struct qjob *qj, struct notes *n);
/* The same, for a change the caller undoes when it is not stored (it
 * answers the user or the dialer with the error): not written again. */
int engine_store(struct queue *q, struct qjob *qj, struct notes *n);
/* The full job of qj (core and delivery records) into out. */
void engine_job_get(const struct qjob *qj, struct job *out);
/* Writes full, qj's job with changes made to it (delivery records too),
 * and only once it is stored makes it qj's state; on failure qj is as it
 * was (-errno, logged). Adds the receipts due, sets changed. */
int engine_persist_job(struct queue *q, struct qjob *qj, struct job *full, struct notes *n);
/* Leases (backends with claim, docs/postgresql.md): a job is claimed for
 * this node before it goes on a line; 0 when claimed or the backend has no
 * claims, else -errno (-EBUSY: another node calls it) and it is not
 * dialed. The lease is renewed while the call lasts (queue_run_once) and
 * released when the call's result is stored. */
#define ENGINE_LEASE_SECONDS 180
#define ENGINE_CLAIM_RETRY 2 /* seconds after a claim the store could not answer */
#define ENGINE_CLAIM_BACKOFF 10 /* seconds before a job another node held is claimed again */
/* call: the job whose call qj goes in (its batch's lead; qj's own id
 * when it leads): with claim_many the store counts a destination's calls
 * across nodes by it (-EAGAIN: the destination's limit is reached). */
int engine_claim(struct queue *q, struct qjob *qj, uint64_t call); /* takes the stored pages_sent when it is further */
/* What a claim's answer r (stored: the job as stored, when r is 0) does
 * to qj: the back-off of a refused one, the stored pages taken. */
int engine_claim_done(struct queue *q, struct qjob *qj, int r, const struct job *stored);
void engine_release(struct queue *q, struct qjob *qj);
/* qj, on a call, lost its lease: stored is the job as the store has it now
 * (NULL: read it). Its call is aborted by the next dispatch round, nothing
 * of qj is written from now on (engine_persist answers -ESTALE), and one
 * line names the node that holds it. */
void engine_lease_lost(struct queue *q, struct qjob *qj, const struct job *stored);
/* The call of a job that lost its lease ended (its channel is detached):
 * it shows as stored, the holder's; a job gone from the store is removed. */
void engine_lost_call_ended(struct queue *q, struct qjob *qj, struct notes *n);
/* engine_receive.c: leases on receptions (backends with take_reception).
 * This node's reception qj lost its lease (another node ended it):
 * shown as stored (stored NULL: read it), its further pages refused. */
void engine_reception_lost(struct queue *q, struct qjob *qj, const struct job *stored);
/* Another node's reception whose lease ran out (that node died): taken
 * and stored failed, its pages kept; otherwise looked at again later. */
void engine_end_dead_reception(struct queue *q, struct qjob *qj, int64_t t, struct notes *n);
void engine_set_error(struct job_core *j, const char *code, const char *text);
/* Is who a member of group g (primary or supplementary)? */
bool engine_caller_in_group(const struct queue_caller *who, gid_t g);
/* -ENOENT (qj NULL) or -EPERM (not the owner nor an administrator) with
 * a sentence naming what who wanted to do; 0 when who may. */
int engine_check_access(struct queue *q, const struct queue_caller *who, struct qjob *qj, uint64_t id,
                        const char *what, char *why, size_t whylen);
/* May who give a job this priority (cfg->restrict_priority)? */
bool engine_priority_allowed(const struct queue *q, const struct queue_caller *who, int priority);

/* engine_metrics.c: counters kept under the lock. */
void engine_metrics_init(struct queue_metrics *m);
void engine_observe_pages(struct queue *q, int pages, int64_t elapsed);
void engine_count_call_end(struct queue *q, struct qjob *qj, struct channel *ch, const struct queue_call_result *res,
                           int new_pages);
void engine_count_reception_end(struct queue *q, const struct job_core *j, const struct queue_call_result *res);

/* engine.c: what the other engine files take from calls. */
void engine_abort_call(struct queue *q, int channel, uint64_t id);
void engine_record_call_facts(struct qjob *qj, const struct queue_call_result *res);
/* The last job of ch's call was reported: the channel is free. */
void engine_release_channel(struct queue *q, struct channel *ch, struct notes *n);

/* engine_batch.c: several jobs to one number in one call (called with
 * the lock held). The documents a call to lead's number may carry. */
int engine_batch_max(const struct queue *q, const struct qjob *lead);
/* Chooses up to max further jobs for lead's call into out; returns how many. */
int engine_batch_collect(struct queue *q, const struct qjob *lead, struct qjob **out, int max);
/* qj rides in lead's call on channel, as document position (1..);
 * durable before it returns 0. */
int engine_batch_join(struct queue *q, struct qjob *qj, int channel, const struct qjob *lead, int position,
                      struct notes *n);
/* A job of ch's call was reported; true when none is left (the caller
 * then releases the channel). */
bool engine_batch_leave(struct qjob *qj, struct channel *ch);
/* The call ended before qj's turn: back to the queue, uncounted. */
void engine_batch_not_sent(struct queue *q, struct qjob *qj, uint64_t on_line, struct notes *n);

void engine_finish_all_confirmed(struct queue *q, struct qjob *qj, struct notes *n, const char *why);

/* engine_sync.c: other nodes' changes (backends with changes). */
int engine_sync_start(struct queue *q);
void engine_sync_join(struct queue *q);
/* This node's name ("" without several nodes). */
const char *engine_node_name(const struct queue *q);

/* engine_load.c: bringing the stored jobs in. */
/* Every job at once (walk), before queue_open returns. */
int engine_load_all(struct queue *q, struct notes *n);
/* Lists the ids to load in the background; 0 also when there are none. */
int engine_load_begin(struct queue *q);
/* engine_load_begin when the store's ids are trusted: nothing is listed yet. */
int engine_load_defer(struct queue *q);
struct qjob *engine_find_loaded(const struct queue *q, uint64_t id);
/* Starts the loader thread (unless no_thread); joins it. */
int engine_loader_start(struct queue *q);
void engine_loader_join(struct queue *q);
void engine_load_free(struct queue *q);
/* Under lock: the job id when it is still to load (loaded now), else NULL. */
struct qjob *engine_load_on_demand(struct queue *q, uint64_t id);
/* Under lock: every stored job of broadcast group not loaded yet, loaded
 * now, so an operation on the group reaches all its jobs. */
void engine_load_group(struct queue *q, uint64_t group);

#endif
