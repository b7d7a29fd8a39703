/*
 * backend.h - the storage interface of the queue, a small table of
 * functions in the manner of OpenSMTPD's queue_backend. The file spool
 * (spool.c) is the default; backend_mem.c keeps everything in memory for
 * tests; a shared database could later let several hosts serve one queue.
 * Storage only: every policy decision stays in the engine.
 */
#ifndef FAXFS_QUEUE_BACKEND_H
#define FAXFS_QUEUE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

/* What the engine lends a backend. */
struct queue_backend_env {
    void (*log)(void *ctx, int level, const char *msg); /* recovery actions, naming the job */
    void *log_ctx;
    bool no_fsync;
};

/* A change another node made (backend changes): job NULL when the job
 * was deleted; else the job as stored, the node holding its lease ("" when
 * none) and how many seconds that lease still runs (0 when none), and a
 * pause or cancel asked of the node calling it (stop_request, -1 none).
 * paused >= 0: not a job's change but the queue-wide pause flag as stored
 * (1 paused, 0 not; id 0, job NULL); -1 for a job's. */
struct queue_store_change {
    uint64_t id;
    const struct job *job;
    const char *holder;
    int lease_left;
    int stop_request;
    int paused;
};

/* One job of a claim_many: what the engine asks, and the answer. */
struct queue_claim {
    uint64_t id;
    uint64_t call;   /* the call it goes in: its lead's id (its own id when it leads) */
    const char *key; /* its destination (the engine's per-destination key) */
    int limit;       /* live calls to key allowed on all nodes together; <= 0 no limit */
    int result;      /* out: 0 taken, -EBUSY, -EAGAIN, -ENOENT, -errno */
    struct job stored; /* out when taken: the job as stored */
};

/* A job being built: pages are written into it, then it is committed under
 * an id in one atomic step, or aborted leaving nothing behind. */
struct queue_stage;

/*
 * Concurrency: stage_open, stage_page, stage_abort and upload_open may run
 * on any thread at any time. Every other function is called with the
 * engine lock held, so the backend sees them one at a time.
 * Errors are -errno.
 */
struct queue_backend {
    const char *name;
    void *ctx; /* the backend's own data (the in-memory store); passed to open */

    int (*open)(void **state, void *ctx, const char *spool_dir, const struct queue_backend_env *env);
    void (*close)(void *state);

    /* Calls fn for every valid job in ascending id order. A job that cannot
     * be loaded (bad job file, missing pages) is set aside and logged, never
     * passed on. fn returning < 0 stops the walk with that value. */
    int (*walk)(void *state, int (*fn)(void *arg, const struct job *job), void *arg);
    /* Hands out a fresh id; the counter is durable before this returns, so
     * an id is never handed out twice, even across crashes. */
    int (*next_id)(void *state, uint64_t *id);
    /* Replaces the stored job atomically (old or new, never a mix). */
    int (*update)(void *state, const struct job *job);
    /* Appends one line (newline included) to the job's log. */
    int (*append_log)(void *state, uint64_t id, const char *line);
    /* Read-only fds; page is 0-based. */
    int (*open_page)(void *state, uint64_t id, int page);
    int (*open_log)(void *state, uint64_t id);
    /* A path a modem can open the page by, valid while the job exists. */
    int (*page_path)(void *state, uint64_t id, int page, char *out, size_t outlen);
    /* Stores the content of src_fd (read from offset 0, at most max_bytes,
     * else -EFBIG) as page index (0-based) of job id, durably: the page file
     * appears complete or not at all. The job itself is not touched; the
     * engine records the new page_count and size next. bytes gets the size. */
    int (*add_page)(void *state, uint64_t id, int index, int src_fd, uint64_t max_bytes, uint64_t *bytes);
    /* Deletes the job with its pages and log; atomic from the outside. */
    int (*remove)(void *state, uint64_t id);
    int (*get_paused)(void *state, bool *paused);
    int (*set_paused)(void *state, bool paused);
    /* An anonymous read-write file for an upload, on the spool's storage. */
    int (*upload_open)(void *state);

    /* Optional (NULL: -ENOSYS): named draft files, see queue.h. */
    int (*draft_create)(void *state, char *token, size_t tokenlen);
    int (*draft_open)(void *state, const char *token);
    int (*draft_remove)(void *state, const char *token);

    /* Optional (NULL: nothing is kept; the engine writes the PDF anew for
     * every open, into an upload_open file): the job's PDF (queue_open_pdf),
     * a cache of what its pages make. Like staging, these may run on any
     * thread at any time, without the engine lock. pdf_open: a read-only fd
     * of the PDF kept, -ENOENT when none is. pdf_store: calls write(arg, fd)
     * on a new empty file, keeps that file as the job's PDF (durable, then
     * renamed into place: a crash leaves it whole or absent) and returns a
     * read-only fd of it at offset 0; -ENOENT when the job was deleted
     * meanwhile. */
    int (*pdf_open)(void *state, uint64_t id);
    int (*pdf_store)(void *state, uint64_t id, int (*write)(void *arg, int fd), void *arg);
    /* Optional, the same for the transmission report of a finished send
     * job (queue_open_report). */
    int (*report_open)(void *state, uint64_t id);
    int (*report_store)(void *state, uint64_t id, int (*write)(void *arg, int fd), void *arg);

    int (*stage_open)(void *state, struct queue_stage **out);
    /* A new fd, open read-write, for page index (0-based); caller closes. */
    int (*stage_page)(struct queue_stage *st, int index);
    /* Stores job (id already assigned), its pages and the first log text,
     * all at once. Consumes st whether it succeeds or not. */
    int (*stage_commit)(struct queue_stage *st, const struct job *job, const char *log_text);
    void (*stage_abort)(struct queue_stage *st);

    /* Optional (NULL: broadcasts are refused with -ENOSYS). reserve_ids
     * hands out n consecutive fresh ids starting at *first, durably, like
     * next_id. group_commit stores n jobs (ids assigned) that all share
     * the pages staged in st, each with its first log text, in one atomic
     * step: after a crash every one of them exists or none does. Consumes
     * st whether it succeeds or not. */
    int (*reserve_ids)(void *state, size_t n, uint64_t *first);
    int (*group_commit)(struct queue_stage *st, const struct job *jobs, size_t n, char *const *log_texts);

    /* Optional (NULL: a copy between stores cannot keep the counter; see
     * queue_copy_store). peek_next_id: the id next_id would hand out now,
     * without handing it out. raise_next_id: makes next_id hand out
     * nothing below min from now on, durably (never lowers it). */
    int (*peek_next_id)(void *state, uint64_t *id);
    int (*raise_next_id)(void *state, uint64_t min);

    /* Optional (NULL: a broadcast with a cover page is refused with
     * -ENOSYS). A new fd, open read-write, for the cover page of job
     * job_index (0-based) of the group; caller closes. When covers are
     * staged, every job has one (group_commit refuses a gap with -EINVAL)
     * and it becomes that job's page 1, the shared pages (staged from
     * index 1 on) follow it. After a first call, calls for distinct
     * job_index may come from several threads at once. */
    int (*stage_cover)(struct queue_stage *st, size_t job_index);

    /* Optional (NULL: the engine loads every job with walk before
     * queue_open returns). Loading in the background, a job at a time
     * (docs/queue.md "Loading"): list_ids gives the ids of the jobs
     * stored, ascending, without reading any job (malloc'd into *ids);
     * after it, next_id and reserve_ids hand out only ids above all of
     * them. load_one loads one of them with the recovery walk applies
     * (a damaged job is set aside and logged, and the answer is -ENOENT;
     * -ENOENT also when the job is not, or no longer, stored). Both are
     * called with the engine lock held, like the functions above; a job
     * is loaded at most once, before the engine calls anything else
     * about it. */
    int (*list_ids)(void *state, uint64_t **ids, size_t *n);
    int (*load_one)(void *state, uint64_t id, struct job *job);
    /* Optional (NULL: false). true when next_id is known to be above every
     * stored id without listing them (the spool's clean-stop mark): the
     * engine then calls list_ids on its loader thread, without the engine
     * lock and concurrently with every other function, and load_one may be
     * asked for any id (-ENOENT when not stored) before the list is in. */
    bool (*ids_trusted)(void *state);

    /* Optional (NULL: this node is the only one calling the store's jobs).
     * Leases, for several nodes sharing one store (docs/postgresql.md):
     * claim takes job id for this node for lease_seconds, atomically
     * against every other node: 0 when taken (the job was free, its lease
     * had run out, or it is this node's already), -EBUSY when another
     * node's lease on it still runs or the stored job is no longer waiting
     * or active (another node finished or paused it), -ENOENT when the job is not
     * stored. On success *stored gets the job as stored now (another node
     * may have confirmed pages since this one read it).
     * renew extends this node's lease: -ESTALE when the lease is no longer
     * this node's (it ran out and another node took the job); *stored then
     * gets the job as stored now, its node the one holding it (stored->id
     * 0 when the job is no longer stored or cannot be read). release
     * gives this node's lease up (nothing when it holds none); an update
     * of the job to a status other than active (or receiving) releases it, in the
     * same step. Called with the engine lock held, like the rest. */
    int (*claim)(void *state, uint64_t id, int lease_seconds, struct job *stored);
    int (*renew)(void *state, uint64_t id, int lease_seconds, struct job *stored);
    int (*release)(void *state, uint64_t id);
    /* Optional (NULL: receptions carry no lease). A reception in progress
     * is stored with the answering node's lease (its node, renewed with
     * renew like a call's). take_reception takes, for this node, reception
     * id whose node stopped renewing it (that node died or was cut off):
     * 0 with *stored the job as stored and stored->node the node that
     * was receiving it (the engine then stores it failed, its pages kept);
     * -EBUSY when its lease still runs or it is no longer receiving. */
    int (*take_reception)(void *state, uint64_t id, int lease_seconds, struct job *stored);
    /* Optional (NULL: the engine claims job by job with claim). Claims
     * the n jobs of one dispatch round in one atomic step, in their order
     * (docs/postgresql.md "Leases"): each as claim does, except that a job
     * whose row another node is claiming at this moment is skipped, not
     * waited for, and that a job is refused when its destination (key)
     * already has limit (> 0) live calls on all nodes together, a call
     * being the leases that share a call id (a batched call's jobs carry
     * their lead's id; a job of its own, its id). Per job, result: 0
     * taken (stored filled as by claim), -EBUSY another node holds it or
     * is claiming it, or it is no longer waiting, -EAGAIN its
     * destination's limit is reached, -ENOENT not stored; other -errno
     * for all of them when the store failed (the return value too). */
    int (*claim_many)(void *state, struct queue_claim *claims, size_t n, int lease_seconds);

    /* Optional (NULL: no other node writes the store). Several nodes on one
     * store (docs/postgresql.md "Several nodes"). node_name: this node's
     * name. changes calls fn for every job another node created, changed
     * or deleted since the previous call (the first: since open; a job may
     * come again unchanged), and for the queue-wide pause flag, under the
     * engine lock like the rest; fn < 0 stops it. With all false it may
     * bring only what wait_changes was notified of since (and, now and
     * then, everything as with all true, the safety net for notifications
     * lost): nothing at all, without a statement, when nothing was.
     * wait_changes waits up to timeout_ms for another node's
     * notification, without any engine lock (1: one came, 0: none, -errno);
     * it runs on its own thread, concurrently with every other function.
     * request_stop asks the node calling job id to pause or cancel it
     * (op QOP_PAUSE or QOP_CANCEL), durably: -EBUSY when it is no longer
     * active in the store. */
    const char *(*node_name)(void *state);
    int (*changes)(void *state, bool all, int (*fn)(void *arg, const struct queue_store_change *c), void *arg);
    int (*wait_changes)(void *state, int timeout_ms);
    int (*request_stop)(void *state, uint64_t id, enum queue_op op);

    /* Optional (false: stage_commit and group_commit are called with the
     * engine lock held). true: they may run on any thread without the
     * engine lock, concurrently with themselves and every other function,
     * so the engine does not hold its lock while jobs are made durable, and
     * the backend can make concurrent submissions durable together (the
     * spool does). */
    bool stage_commit_unlocked;
};

/* The file spool, documented in docs/spool-format.md. */
extern const struct queue_backend queue_backend_spool;

#endif
