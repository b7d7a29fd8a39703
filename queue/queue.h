/*
 * queue.h - the public face of the queue engine: the fax job model, its
 * lifecycle operations, and the hooks through which modems report calls.
 * Everything outside queue/ (the filesystem view, the daemon's wiring) uses
 * only this header. The engine knows nothing of FUSE or of spandsp.
 */
#ifndef FAXFS_QUEUE_H
#define FAXFS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- job model ------------------------------------------------------ */

#define JOB_NUMBER_MAX 64  /* normalized phone number, NUL included */
#define JOB_TEXT_MAX 128   /* names, company, department, billing code */
#define JOB_IDENT_MAX 21   /* T.30 station id: 20 characters + NUL */
#define JOB_STATUS_TEXT_MAX 128
#define JOB_ERROR_CODE_MAX 32
#define JOB_ERROR_TEXT_MAX 192
#define JOB_MODEM_MAX 32
#define JOB_LINE_MAX 32    /* a line's name, NUL included (queue/route.h LINE_NAME_MAX) */

/* The first id a queue hands out. Ids are shown as directory names, and
 * plain ls, globs and sort order names as text: starting at six digits
 * makes text order numeric order for the first 900,000 jobs. After 999999
 * the counter goes on to 1000000 (ids are never reused and never wrap);
 * ls -v stays numeric then. Storage that already handed out smaller ids
 * keeps them and continues from here (docs/spool-format.md). */
#define QUEUE_FIRST_JOB_ID 100000

enum job_type { JOB_SEND, JOB_RECEIVE };

/* One lifecycle for every job; docs/lifecycle.md maps it to Windows JS_*
 * and HylaFAX states. Order matters only for the *_COUNT sentinel. */
enum job_status {
    JOB_QUEUED,    /* due, waiting for a modem */
    JOB_SCHEDULED, /* waiting for its time-to-send */
    JOB_ACTIVE,    /* on a modem */
    JOB_RETRYING,  /* after a failed attempt, until next_attempt */
    JOB_PAUSED,    /* held by its owner; survives a restart */
    JOB_DONE,
    JOB_FAILED,    /* permanent error, attempts exhausted, or kill time passed */
    JOB_CANCELED,
    JOB_RECEIVING, /* an inbound call in progress */
    JOB_STATUS_COUNT
};

/* Priorities are numbers 0..255, larger is more urgent; the named levels
 * are fixed points on that scale. */
enum { JOB_PRIORITY_LOW = 64, JOB_PRIORITY_NORMAL = 128, JOB_PRIORITY_HIGH = 192 };

/* Deliveries of a received fax (docs/receiving.md): one record per
 * action of its route, stored before the action runs and after each try. */
#define JOB_DELIVERIES_MAX 8
#define JOB_ROUTE_MAX 32
#define JOB_DELIVERY_ACTION_MAX 12
#define JOB_DELIVERY_TARGET_MAX 256
#define JOB_DELIVERY_ERROR_MAX 160
#define JOB_DELIVERY_REASON_MAX 160
enum job_delivery_state { JD_PENDING, JD_DONE, JD_RETRYING, JD_FAILED, JD_STATE_COUNT };
struct job_delivery {
    char action[JOB_DELIVERY_ACTION_MAX]; /* "folder", "print", "command", "mail" */
    char target[JOB_DELIVERY_TARGET_MAX]; /* directory, printer, route name, addresses */
    enum job_delivery_state state;
    int attempts;
    int64_t first_try;  /* 0: not tried yet */
    int64_t next_try;   /* pending/retrying: due at; 0 = now */
    char error[JOB_DELIVERY_ERROR_MAX]; /* the last failure, "" when none */
    /* An attempt receipt (action "attempt", docs/receipts.md) tells of one
     * failed attempt, copied when it failed: its number (0 for every other
     * record), when the next try was due, and "CODE: TEXT" of its error. */
    int of_attempt;
    int64_t retry_at;
    char reason[JOB_DELIVERY_REASON_MAX];
};
const char *job_delivery_state_name(enum job_delivery_state s);
int job_delivery_state_from_name(const char *name, enum job_delivery_state *out);

#define JOB_NODE_MAX 64
/* A job's fields but its delivery records and its seldom-set long texts
 * (JOB_CORE_FIELDS): what the engine keeps in memory for every job as
 * they are, the others apart and sized to what is present (docs/queue.md
 * "Memory"). */
#define JOB_CORE_FIELDS \
    uint64_t id;                                                                       \
    enum job_type type;                                                                \
    enum job_status status;                                                            \
    uid_t owner_uid;                                                                   \
    gid_t owner_gid;                                                                   \
    char recipient_number[JOB_NUMBER_MAX];                                             \
    char recipient_name[JOB_TEXT_MAX];                                                 \
    char sender_name[JOB_TEXT_MAX];                                                    \
    char tsid[JOB_IDENT_MAX];                                                          \
    int64_t submitted;    /* unix seconds */                                           \
    int64_t scheduled;    /* time-to-send; 0 = as soon as possible */                  \
    int64_t kill_time;    /* give up after; 0 = never */                               \
    int64_t next_attempt; /* 0 = not planned */                                        \
    int64_t changed;      /* last change of anything visible (mtime) */                \
    int64_t finished;     /* 0 until done/failed/canceled */                           \
    int priority;         /* 0..255 */                                                 \
    int page_count;                                                                    \
    int pages_sent;       /* confirmed by the remote, over all attempts */             \
    uint64_t size;        /* bytes of page data */                                     \
    int attempts;                                                                      \
    int max_attempts;                                                                  \
    char device_status[JOB_STATUS_TEXT_MAX];                                           \
    char error_code[JOB_ERROR_CODE_MAX];  /* stable, e.g. "busy"; empty when none */   \
    char error_text[JOB_ERROR_TEXT_MAX];  /* a human sentence */                       \
    char modem[JOB_MODEM_MAX];                                                         \
    /* known after a call; -1 / empty when unknown */                                  \
    int bit_rate;                                                                      \
    int ecm;                                                                           \
    char compression[16];                                                              \
    char remote_id[JOB_IDENT_MAX + 12];                                                \
    int call_duration; /* seconds */                                                   \
    /* receive jobs */                                                                 \
    char caller_id[JOB_NUMBER_MAX];                                                    \
    int resolution;     /* enum job_resolution the pages were rendered at */           \
    char transport[8];  /* "g711", "t38", "sim", "exec"; "" until a call says */       \
    char line[JOB_LINE_MAX]; /* the line of the last attempt; "" before the first */   \
    char called_number[JOB_NUMBER_MAX]; /* the number the caller dialed; "" unknown */ \
    /* Routing (docs/receiving.md): chosen once the call has ended. */                 \
    int64_t routed;                     /* when the route was chosen; 0 = not yet */   \
    char route[JOB_ROUTE_MAX];          /* the route's name; "" = none matched */      \
    /* Dial rules (docs/dialing.md): the number as typed, as last dialed               \
     * (recipient_number is the canonical one); "" for older jobs. */                  \
    char submitted_number[JOB_NUMBER_MAX];                                             \
    char dialed_number[JOB_NUMBER_MAX];                                                \
    /* Modem settings asked for by the job: -1 / 0 when not given. */                  \
    int use_ecm;        /* -1 default, 0 off, 1 on */                                  \
    int max_bit_rate;   /* 0 or 2400..14400 */                                         \
    int min_bit_rate;                                                                  \
    /* Receipts (docs/receipts.md): mailed to notify (below) when the job ends         \
     * as notify_when says, with notify_attach. */                                     \
    int notify_when;    /* enum job_notify_when */                                     \
    int notify_attach;  /* enum job_notify_attach */                                   \
    /* Broadcast (docs/filesystem.md "Broadcast"): the group id shared by              \
     * every job of one submission to many numbers (the group's first job              \
     * id); 0 for a job submitted alone. */                                            \
    uint64_t group;                                                                    \
    /* end of JOB_CORE_FIELDS */
struct job_core {
    JOB_CORE_FIELDS
};
/* The texts most jobs leave empty (the long ones, and the node of a job
 * on a call): the engine keeps them packed to their length, none at all
 * when all are empty. */
#define JOB_EXTRA_FIELDS                                                                   \
    char sender_company[JOB_TEXT_MAX];                                                     \
    char sender_department[JOB_TEXT_MAX];                                                  \
    char billing_code[JOB_TEXT_MAX];                                                       \
    /* Receipts (docs/receipts.md): the addresses mailed; "" = none. */                    \
    char notify[JOB_DELIVERY_TARGET_MAX];                                                  \
    /* Several nodes on one store (docs/postgresql.md): the node calling the              \
     * job while it is active, "" otherwise. Not in the job file: the store               \
     * keeps it beside the job. */                                                         \
    char node[JOB_NODE_MAX];

/* A plain-data copy of one job: safe to keep after the engine moves on.
 * Its core fields are reached directly (j.id) or as one struct job_core
 * (j.core), for the functions that need no delivery records. */
struct job {
    union {
        struct job_core core;
        struct {
            JOB_CORE_FIELDS
        };
    };
    JOB_EXTRA_FIELDS
    int ndeliveries;
    struct job_delivery deliveries[JOB_DELIVERIES_MAX];
    /* queue_snapshot: true while the store has refused this state (it is
     * written again, docs/postgresql.md "Failures"): nothing may be told
     * of it yet (receipts, hooks, mails, answers to waiting readers); the
     * job is announced changed (QE_CHANGED) once it is stored. */
    bool unsaved;
};

/* Zeroes a job and sets the "unknown" markers (-1) and normal priority. */
void job_init(struct job *job);

const char *job_status_name(enum job_status s);
int job_status_from_name(const char *name, enum job_status *out);
bool job_status_is_final(enum job_status s);
const char *job_type_name(enum job_type t);

/* Vertical resolution documents are rendered at (8 pels/mm across). */
enum job_resolution {
    JOB_RES_STANDARD = 1,  /* 3.85 lines/mm, 98 dpi */
    JOB_RES_FINE = 2,      /* 7.7 lines/mm, 196 dpi (the default) */
    JOB_RES_SUPERFINE = 3, /* 15.4 lines/mm, 391 dpi */
};
/* "standard", "fine" or "superfine"; -EINVAL otherwise. */
int job_parse_resolution(const char *in, int *out);

/* Receipts of send jobs (docs/receipts.md). */
enum job_notify_when {
    JOB_NOTIFY_FINAL, JOB_NOTIFY_DONE, JOB_NOTIFY_FAILED,
    JOB_NOTIFY_EVERY_ATTEMPT, /* a receipt after each failed attempt that is retried, and the final one */
    JOB_NOTIFY_WHEN_COUNT
};
enum job_notify_attach { JOB_ATTACH_REPORT, JOB_ATTACH_FAX, JOB_ATTACH_BOTH, JOB_ATTACH_COUNT };
#define JOB_NOTIFY_ADDRESSES_MAX 8
/* A comma-separated list of at most JOB_NOTIFY_ADDRESSES_MAX mail
 * addresses, blanks around them dropped: "a@x.org, b@y.org" gives
 * "a@x.org,b@y.org" in out. An address is printable ASCII without blanks,
 * quotes, brackets or a leading '-' (the daemon checks it again with its
 * mail code on submit). 0, or -EINVAL with a sentence. */
int job_parse_notify(const char *in, char *out, size_t outlen, char *why, size_t whylen);
int job_parse_notify_when(const char *in, int *out);     /* final, done, failed, every-attempt */
const char *job_notify_when_name(int when);
int job_parse_notify_attach(const char *in, int *out);   /* report, fax, both */
const char *job_notify_attach_name(int attach);
/* Is the finished send job j one whose receipt is due (its notify set and
 * its end what notify_when asks for)? */
bool job_notify_due(const struct job *j);
#define JOB_RECEIPT_ACTION "receipt"
/* An attempt receipt: one per failed attempt that is retried, for
 * notify_when every-attempt. They share the delivery slots with the final
 * receipt, which always keeps one: at most JOB_DELIVERIES_MAX - 1 are
 * kept, a sent or given-up one making room for the next. */
#define JOB_ATTEMPT_RECEIPT_ACTION "attempt"
/* Adds the receipt records due for j in its present state (the final
 * receipt once it ended as notify_when asks; an attempt receipt once per
 * retried attempt for every-attempt). Returns how many were added. */
int job_add_receipts(struct job *j);
const char *job_resolution_name(int resolution);

/* Normalizes a phone number: spaces, dashes, dots and parentheses are
 * dropped, a leading '+' is kept. Returns 0, or -EINVAL (with a sentence in
 * why) for a number without digits or with other characters. */
int job_normalize_number(const char *in, char *out, size_t outlen, char *why, size_t whylen);

/* "low" / "normal" / "high" or a number 0..255. */
int job_parse_priority(const char *in, int *out);
/* Renders a priority as its name when it has one, else as a number. */
void job_format_priority(int priority, char *out, size_t outlen);

/* ISO 8601 ("2026-11-24T10:00:00+01:00", "2026-11-24 10:00", with or
 * without seconds/offset; local time when no offset) or relative "+30m",
 * "+2h", "+45s", "+1d", or "now". */
int job_parse_time(const char *in, int64_t now, int64_t *out);
/* ISO 8601 with offset in local time; "" for 0. */
void job_format_time(int64_t t, char *out, size_t outlen);

/* ---- the engine ----------------------------------------------------- */

struct queue;

/* What a retrying failure was; chooses the retry delay. */
enum queue_failure {
    QF_NONE,        /* success */
    QF_BUSY,
    QF_NO_ANSWER,
    QF_NO_LINE,     /* no dial tone, line unavailable */
    QF_NOT_FAX,     /* a person or another device answered */
    QF_DROPPED,     /* call dropped or T.30 protocol error */
    QF_PERMANENT,   /* never retried */
    QF_ABORTED,     /* canceled by a user or daemon shutdown: not a failure */
    QF_COUNT
};

struct queue_clock {
    int64_t (*now)(void *ctx); /* unix seconds */
    void *ctx;
};

/* A further job sent in the same call (batching, docs/architecture.md):
 * its pages follow the call's own after a T.30 end-of-message. */
struct queue_call_doc {
    uint64_t job_id;
    const char *const *page_paths;
    int page_count;
    int first_page;
    int total_pages;
};

/* A call handed to a modem channel. Valid only during start(). */
struct queue_call {
    uint64_t job_id;
    int channel;
    int line;           /* index of the channel's line, in configuration order */
    const char *line_name;
    const char *number;
    const char *const *page_paths; /* the pages still to send, in order */
    int page_count;                /* entries in page_paths */
    int first_page;                /* 0-based index of page_paths[0] in the job */
    int total_pages;
    const char *tsid;
    const char *sender_name;
    /* Modem settings after precedence (destination > job > global). */
    int ecm;          /* -1 the modem's default (on), 0 off, 1 on */
    int max_bit_rate; /* 0: no ceiling */
    int min_bit_rate; /* 0: no floor; the call ends when the rate falls below */
    int t38;          /* -1 as the line does, 0 never T.38 on this call */
    /* Batching: further jobs of the same owner to the same number, in
     * dispatch order; each is reported on its own (queue_call_next_document,
     * queue_call_finished or queue_call_not_sent). */
    const struct queue_call_doc *more;
    int nmore;
};

/* Implemented by the daemon over modem/. start() must not call back into
 * the queue synchronously; abort() may be called from any thread. */
struct queue_line_ops {
    int (*start)(void *ctx, const struct queue_call *call);
    void (*abort)(void *ctx, int channel);
    /* Whether calls can be placed on line now; fills why with the line's
     * status for people ("none" for lines that do not register). NULL:
     * every line is always usable. Called without engine locks held. */
    bool (*usable)(void *ctx, int line, char *why, size_t len);
    void *ctx;
};

/* One named line: a group of consecutive channels (docs/lines.md). */
struct queue_line_def {
    const char *name;     /* letters, digits, '-', '_' */
    const char *spec;     /* shown in lines/NAME/spec; never a secret */
    int channels;
};

struct route; /* queue/route.h */
struct queue_receipt_default {
    uid_t uid;
    char notify[JOB_DELIVERY_TARGET_MAX]; /* as job_parse_notify gives it */
    int when;                             /* enum job_notify_when */
};

struct queue_backend; /* see queue/backend.h; NULL means the file spool */
struct queue_converter; /* see queue/sandbox.h */

struct queue_config {
    const char *spool_dir;            /* for the file spool backend */
    const struct queue_backend *backend; /* NULL: file spool */
    struct queue_clock clock;         /* now == NULL: the real clock */
    struct queue_line_ops line;       /* start == NULL: nothing is dialed */
    int modems;                       /* channels, named modem0..; ignored with lines */
    const struct queue_line_def *lines; /* nlines > 0: the lines, channels in this order */
    int nlines;                       /* 0: one line "default" of every channel */
    const struct route *routes;       /* outbound routes, first match wins (copied) */
    int nroutes;
    int per_destination_limit;        /* concurrent calls per number; 0 = unlimited */
    int lease_seconds;                /* several nodes: a call's lease on its job; 0 = 180 */
    const char *node_name;            /* this server's name, shown when the backend has none */
    int retry_delay[QF_COUNT];        /* seconds per failure class; 0 = default */
    int retry_jitter_percent;         /* +- this much, default 10; -1 for none */
    int max_attempts;                 /* default for new jobs */
    int kill_after;                   /* seconds after time-to-send; default 3 h */
    int history_days;                 /* finished jobs kept this long; 0 = forever */
    int received_days;                /* received faxes kept this long; 0 = until deleted */
    int received_empty_hours;         /* failed receives without pages kept this long; 0 = as received_days */
    gid_t admin_gid;                  /* members may act on every job; (gid_t)-1 none */
    /* With restrict_priority, priorities above normal are for members of
     * priority_gid (and administrators) only, at submission and edit. */
    bool restrict_priority;
    gid_t priority_gid;
    uint64_t max_document_bytes;      /* per submitted document; 0 = default */
    bool no_thread;                   /* tests drive queue_run_once() by hand */
    /* Load the stored jobs in the background (docs/queue.md "Loading"):
     * queue_open returns once the ids are listed; a loader thread (or,
     * with no_thread, queue_load_some) brings the jobs in. Without it, or
     * over a backend without list_ids/load_one, queue_open loads them all. */
    bool background_load;
    void (*log)(int level, const char *msg); /* daemon log sink; NULL = stderr */
    /* Source of retry jitter; next == NULL: an internal generator. Tests
     * inject a fixed sequence so delays are exact. */
    struct queue_random {
        uint32_t (*next)(void *ctx);
        void *ctx;
    } random;
    bool no_fsync;                    /* tests and benchmarks only: not crash safe */
    uid_t receive_uid;                /* owner of received faxes; default 0 (root) */
    gid_t receive_gid;                /* their group; default 0 */
    /* Documents that are not fax TIFFs (docs/documents.md). */
    const char *ghostscript;          /* renders PDF, PostScript, cover pages; NULL: /usr/bin/gs */
    int render_seconds;               /* Ghostscript run time limit per document; 0: 60 */
    /* Every document is converted by the converter program in a sandbox
     * (queue/sandbox.h, docs/documents.md); nothing parses it in here. */
    const char *converter;            /* path of faxfs-convert; NULL: documents are refused */
    const char *bwrap;                /* NULL: /usr/bin/bwrap */
    uid_t convert_uid;                /* the converter's user when the daemon is root; never 0 */
    gid_t convert_gid;
    const struct queue_converter *convert; /* tests of the engine only; NULL: the sandbox */
    /* Dial rules, destination controls and global modem settings
     * (queue/dialplan.h); NULL: numbers as typed, no controls. Not owned;
     * must outlive the queue. */
    const struct dialplan *dialplan;
    /* Receipts: the mail code's check of one address (the daemon passes
     * mail_address_ok); NULL: job_parse_notify's check only. */
    int (*mail_address_ok)(const char *address);
    /* Receipts: the administrator's default notify and notify_when per
     * user ([receipt USER]), used when a job asks for none. Not owned. */
    const struct queue_receipt_default *receipt_defaults;
    int nreceipt_defaults;
    /* Batching: due jobs of one owner to one number with the same call
     * settings go out in one call, at most batch_max jobs a call (0 or 1:
     * one job a call; at most QUEUE_BATCH_LIMIT). [destination] batch = no
     * (dialplan) turns it off for its numbers. */
    int batch_max;
};

/* Log levels passed to cfg->log (syslog numbering). */
enum { QUEUE_LOG_ERR = 3, QUEUE_LOG_WARNING = 4, QUEUE_LOG_NOTICE = 5, QUEUE_LOG_INFO = 6 };

/* Defaults used when the matching queue_config field is 0. */
#define QUEUE_DEFAULT_MAX_ATTEMPTS 4        /* first try + 3 retries (Windows Retries = 3) */
#define QUEUE_DEFAULT_KILL_AFTER (3 * 3600) /* HylaFAX killtime */
#define QUEUE_DEFAULT_MAX_DOCUMENT_BYTES (50ull << 20)
#define QUEUE_DEFAULT_JITTER_PERCENT 10
#define QUEUE_DEFAULT_GHOSTSCRIPT "/usr/bin/gs"
#define QUEUE_DEFAULT_RENDER_SECONDS 60
#define QUEUE_DEFAULT_BATCH_MAX 10          /* the daemon's --batch-max */
#define QUEUE_BATCH_LIMIT 50                /* jobs in one call, at most */

int queue_open(struct queue **out, const struct queue_config *cfg);
/* Stops dispatching, aborts active calls and waits (bounded) for their
 * finished reports; their jobs go back to the queue. The queue still
 * accepts reports afterwards, so the daemon can stop the modem pool between
 * queue_stop() and queue_close(). Idempotent; queue_close() calls it. */
void queue_stop(struct queue *q);
/* Stops dispatching, aborts active calls (their jobs go back to the queue
 * with confirmed pages kept), and frees everything. */
void queue_close(struct queue *q);

/* With background_load and no_thread: loads up to max stored jobs (the
 * loader thread's step); returns how many are still to load (0: done). */
size_t queue_load_some(struct queue *q, size_t max);
/* Is the queue still loading its stored jobs? */
bool queue_loading(struct queue *q);

/* Several nodes on one store (docs/postgresql.md "Several nodes"): brings
 * in the jobs other nodes created, changed or deleted since the last time
 * (a pause or cancel asked on another node of a call this node makes
 * aborts it), and the queue-wide pause. The engine's own thread reads what
 * other nodes' notifications named, and now and then everything; with
 * no_thread, tests call this, which reads everything. Returns
 * how many jobs changed here, or -errno; 0 when the store has no other
 * nodes. */
int queue_catch_up(struct queue *q);

/* With no_thread: dispatch due jobs and expire dead ones at clock time;
 * returns the number of calls started. */
int queue_run_once(struct queue *q);

/* Who is asking; the engine decides what they may do. */
struct queue_caller {
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int ngroups;
};
bool queue_caller_is_admin(const struct queue *q, const struct queue_caller *who);
/* May who read pages/log of, or control, this job? */
bool queue_caller_owns(const struct queue *q, const struct queue_caller *who, const struct job *job);

/* Submission. Fields of req that are 0/empty take defaults. */
struct queue_request {
    char recipient_number[JOB_NUMBER_MAX]; /* raw; normalized on submit */
    char recipient_name[JOB_TEXT_MAX];
    char sender_name[JOB_TEXT_MAX];
    char sender_company[JOB_TEXT_MAX];
    char sender_department[JOB_TEXT_MAX];
    char billing_code[JOB_TEXT_MAX];
    char tsid[JOB_IDENT_MAX];
    int64_t scheduled;
    int64_t kill_time;
    int priority;     /* 0 = normal */
    int max_attempts; /* 0 = default */
    int resolution;   /* enum job_resolution; 0 = fine */
    bool cover_page;  /* prepend a cover page made from the job's fields */
    int use_ecm;      /* QUEUE_ECM_DEFAULT, _ON or _OFF */
    int max_bit_rate; /* 0 = default; else 2400..14400 */
    int min_bit_rate; /* 0 = default */
    char cover_comment[1024]; /* free text for the cover page */
    char notify[JOB_DELIVERY_TARGET_MAX]; /* receipts: addresses (job_parse_notify); "" none */
    int notify_when;                      /* enum job_notify_when */
    int notify_attach;                    /* enum job_notify_attach */
};

enum { QUEUE_ECM_DEFAULT = 0, QUEUE_ECM_ON = 1, QUEUE_ECM_OFF = 2 };

/* Checks a recipient number as typed against the dial rules before
 * anything is stored: 0 and the canonical number in canonical (may be
 * NULL), -EINVAL (not a number) or -EACCES (refused by a dial rule or a
 * destination's refuse) with a sentence naming the rule and the fix.
 * Logs nothing: the caller logs its refusal. */
int queue_check_number(struct queue *q, const char *typed, char *canonical, size_t len, char *why, size_t whylen);

/* A temporary file on the spool's filesystem (already unlinked) to receive
 * an uploaded document; returns an fd or -errno. */
int queue_upload_open(struct queue *q);

/* Named files for draft documents, on the spool's storage, so that a
 * draft holds no open descriptor while nobody has it open. _create
 * returns a read-write fd and a token naming the file; _open reopens it;
 * _remove deletes it. Leftovers are removed at the next start (drafts do
 * not survive a restart). -ENOSYS from a backend without named files: the
 * caller keeps the fd from queue_upload_open instead. */
#define QUEUE_DRAFT_TOKEN_MAX 32
int queue_draft_file_create(struct queue *q, char *token, size_t tokenlen);
int queue_draft_file_open(struct queue *q, const char *token);
int queue_draft_file_remove(struct queue *q, const char *token);
/* Unfinished send jobs owned by uid. */
int queue_count_unfinished(struct queue *q, uid_t uid);
/* Validates the documents (fax TIFFs pass through; PDF, PostScript, PNG,
 * JPEG and other TIFFs are converted to fax pages, docs/documents.md),
 * stores the job durably, then announces it. Returns 0 and the new id, or -errno with a sentence naming
 * the problem and the fix in why. Bad input changes nothing. */
int queue_submit(struct queue *q, const struct queue_caller *who, const struct queue_request *req,
                 const int *doc_fds, size_t ndocs, uint64_t *id_out, char *why, size_t whylen);

/* ---- broadcast: one fax to many numbers ---------------------------- */

#define QUEUE_DEFAULT_MAX_RECIPIENTS 10000
struct queue_recipient {
    char number[JOB_NUMBER_MAX]; /* as typed (dial rules judge it at submit) */
    char name[JOB_TEXT_MAX];
    int line;                    /* 1-based line of the recipients file */
};
/* Parses a recipients file: one number per line, optionally a tab and a
 * name; blank lines and lines starting with '#' (after blanks) are
 * skipped. At most max entries (0: QUEUE_DEFAULT_MAX_RECIPIENTS). Returns
 * 0 with a malloc'd array, or -EINVAL (a line that is not a number, a
 * name too long, a control character, no entry at all) or -E2BIG (more
 * than max) with *bad_line (0 when no line is to blame) and a sentence in
 * why naming the line and the fix. */
int queue_parse_recipients(const char *text, size_t len, size_t max, struct queue_recipient **out, size_t *n_out,
                           int *bad_line, char *why, size_t whylen);
/* Submits one job per recipient from the same documents (converted once)
 * and the same fields of req (its recipient_number and _name are
 * ignored), every job carrying the new group id, in one atomic commit:
 * after a crash all the jobs exist or none. Every number passes the dial
 * rules as in queue_submit; the first refused one refuses everything
 * (its line in why). A cover page is refused (-EINVAL): it would differ
 * per recipient. Returns 0 and the group id (the first job's id), or
 * -errno; bad input changes nothing. */
int queue_submit_group(struct queue *q, const struct queue_caller *who, const struct queue_request *req,
                       const struct queue_recipient *rcpt, size_t nrcpt, const int *doc_fds, size_t ndocs,
                       uint64_t *group_out, char *why, size_t whylen);

/* The jobs of a broadcast group (docs/filesystem.md, groups/). */
struct queue_group_member {
    uint64_t id;
    enum job_status status;
    uid_t owner_uid;
    char number[JOB_NUMBER_MAX];
    char name[JOB_TEXT_MAX];
};
/* Every job of group, ascending (malloc'd): 0 and *n >= 1, or -ENOENT when
 * no job of the group is left. */
int queue_group_members(struct queue *q, uint64_t group, struct queue_group_member **out, size_t *n);
/* The owner of the group's first job left: 0, or -ENOENT when no job of
 * the group is left. Cheap (no copy of the group). */
int queue_group_owner(struct queue *q, uint64_t group, uid_t *uid);
/* The ids of the groups that still have a job, ascending (malloc'd). */
int queue_list_groups(struct queue *q, uint64_t **ids_out, size_t *n_out);

enum queue_op { QOP_PAUSE, QOP_RESUME, QOP_RESTART, QOP_CANCEL };
int queue_op_from_name(const char *name, enum queue_op *out);
const char *queue_op_name(enum queue_op op);
/* The lifecycle table: may op be applied to a job of type t in state s?
 * (Windows AvailableOperations.) No operation applies to a received fax:
 * there is nothing to send again. Deleting is allowed exactly in final
 * states. */
bool job_op_allowed(enum job_type t, enum job_status s, enum queue_op op);
/* The same table's last column: may a job's fields be changed now? */
bool job_edit_allowed(enum job_type t, enum job_status s);

/* Changes one field of a waiting or paused send job (HylaFAX faxalter):
 * "scheduled", "kill_time", "priority", "max_attempts", "recipient_number"
 * or "recipient_name", value as in a draft ("" is the default). Persisted
 * before it returns, then QE_CHANGED. A new number passes the dial rules
 * as at submission (-EACCES refused, -EFBIG over the destination's
 * max-pages). -EINVAL bad field or value, -EPERM
 * not the owner or an administrator (or a priority above normal from
 * outside cfg->priority_gid), -EBUSY on a call or finished, -ENOENT; a
 * sentence naming the fix in why. */
int queue_edit(struct queue *q, const struct queue_caller *who, uint64_t id, const char *field, const char *value,
               char *why, size_t whylen);
/* Is name one of queue_edit's fields? */
bool queue_edit_field_known(const char *name);
/* -EPERM when who may not, -EBUSY when the state forbids it, -ENOENT. */
int queue_control(struct queue *q, const struct queue_caller *who, uint64_t id, enum queue_op op,
                  char *why, size_t whylen);
/* Deletes a finished job for good. -EBUSY if it is not finished. */
int queue_delete(struct queue *q, const struct queue_caller *who, uint64_t id, char *why, size_t whylen);

/* Whole-queue pause (stop dialing); durable. */
int queue_set_paused(struct queue *q, bool paused);
bool queue_is_paused(const struct queue *q);

/* Ids in ascending order, filtered by the categories asked for. */
enum queue_list_filter {
    QL_UNFINISHED = 1, /* send jobs not finished */
    QL_HISTORY = 2,    /* send jobs finished */
    QL_RECEIVED = 4,   /* receive jobs */
};
int queue_list(struct queue *q, unsigned filter, uint64_t **ids_out, size_t *n_out);
int queue_snapshot(struct queue *q, uint64_t id, struct job *out);

/* Page n (0-based) and log as read-only fds; the page bytes never change. */
int queue_open_page(struct queue *q, uint64_t id, int page);
int queue_open_log(struct queue *q, uint64_t id);

#define QUEUE_SUMMARY_NODES 16
struct queue_summary {
    int jobs[JOB_STATUS_COUNT];
    int modems_busy;
    int modems_idle;
    bool paused;
    /* Loading in the background: while loading, jobs_loaded of
     * jobs_to_load stored jobs are in (the counts above are of those). */
    bool loading;
    size_t jobs_loaded, jobs_to_load;
    /* This node's name (the store's, else the configured node_name; ""
     * when neither). With several nodes on one store (several): the
     * outbound calls in progress by node, this node first, then each node
     * another node's active jobs name, in the order met; the calls of
     * nodes past QUEUE_SUMMARY_NODES are counted in calls_elsewhere. */
    char node[JOB_NODE_MAX];
    bool several;
    int nnodes;
    struct queue_node_calls {
        char name[JOB_NODE_MAX];
        int calls;
    } nodes[QUEUE_SUMMARY_NODES];
    int calls_elsewhere;
};
void queue_summarize(struct queue *q, struct queue_summary *out);

/* Counters since the daemon started, for MOUNT/metrics (Prometheus). */
#define QUEUE_HIST_BUCKETS 10
struct queue_histogram {
    double bounds[QUEUE_HIST_BUCKETS];        /* upper bounds, seconds, ascending */
    uint64_t counts[QUEUE_HIST_BUCKETS];      /* observations <= bounds[i] (cumulative) */
    uint64_t count;                           /* all observations (the +Inf bucket) */
    double sum;
};
/* Deliveries finished by action and outcome since the daemon started. */
#define QUEUE_DELIVERY_ACTIONS 8
enum queue_delivery_outcome { QDO_DONE, QDO_RETRY, QDO_FAILED, QDO_COUNT };
struct queue_delivery_counter {
    char action[JOB_DELIVERY_ACTION_MAX]; /* "" = unused slot */
    uint64_t outcome[QDO_COUNT];
};

struct queue_metrics {
    struct queue_summary summary;
    uint64_t calls[QF_COUNT];          /* finished outbound calls by outcome; QF_NONE = success */
    uint64_t receptions[QF_COUNT];     /* finished inbound calls by outcome */
    uint64_t pages_sent;
    uint64_t pages_received;
    uint64_t submissions;              /* accepted */
    uint64_t submissions_refused;
    double modem_busy_seconds;         /* summed over channels */
    struct queue_histogram call_seconds;
    struct queue_histogram page_seconds;
    struct queue_delivery_counter deliveries[QUEUE_DELIVERY_ACTIONS]; /* by action, first use first */
};
void queue_metrics(struct queue *q, struct queue_metrics *out);
/* "success", "busy", "no_answer", "no_line", "not_fax", "dropped",
 * "permanent", "aborted". */
const char *queue_failure_name(enum queue_failure f);

/* A PNG rendering of page n (0-based) of a job, for previews; malloc'd
 * into *png. The same page always renders to the same bytes. */
int queue_page_png(struct queue *q, uint64_t id, int page, unsigned char **png, size_t *len);

/* The job's pages as one PDF (made on first use, then cached): a read-only
 * fd at offset 0, or -errno (-ENOENT no such job, -ENODATA no pages yet).
 * A received fax has its PDF once the call has ended (while it is being
 * received: -ENODATA). The caller checks who may read it (as for pages).
 * -EIO when a stored page cannot be made into a PDF (logged, naming the
 * job and page). docs/filesystem.md, fax.pdf. */
int queue_open_pdf(struct queue *q, uint64_t id);

/* report.pdf: the transmission report of a finished send job (done,
 * failed, or canceled after at least one attempt; queue_job_has_report),
 * made on first use and kept like fax.pdf. A read-only fd at offset 0,
 * -ENOENT no such job, -ENODATA not such a job (yet), -EIO when it cannot
 * be made (logged). docs/filesystem.md, report.pdf. */
int queue_open_report(struct queue *q, uint64_t id);
bool queue_job_has_report(const struct job *j);

struct queue_modem_info {
    char name[JOB_MODEM_MAX];
    char status[JOB_STATUS_TEXT_MAX]; /* "idle" or the device status */
    uint64_t job;                     /* 0 when idle */
    uint64_t calls;
    uint64_t pages_sent;
    uint64_t errors;
    char line[JOB_LINE_MAX];          /* the line the channel belongs to */
};
int queue_modem_count(const struct queue *q);
int queue_modem_info(struct queue *q, int index, struct queue_modem_info *out);

/* The lines, for MOUNT/lines/NAME/. */
struct queue_line_info {
    char name[JOB_LINE_MAX];
    char spec[256];                   /* as configured, secrets removed */
    int channels, busy, free;
    bool usable;                      /* from the line operations' usable() */
    char registration[160];           /* the line's status text; "none" when it does not register */
    uint64_t calls, failures, pages_sent;
    char last_error[JOB_ERROR_CODE_MAX + JOB_ERROR_TEXT_MAX + 2]; /* "code: text" of the last failed call */
};
int queue_line_count(const struct queue *q);
/* -ENOENT for an index past the last line. Asks the line operations for
 * the status: call it without holding anything the wiring takes. */
int queue_line_info(struct queue *q, int index, struct queue_line_info *out);

/* Change notification. Called from engine threads, never with an engine
 * lock held; must not block. id 0 means server-wide state (summary,
 * modems, pause). */
enum queue_event { QE_ADDED, QE_CHANGED, QE_REMOVED, QE_LOG, QE_SERVER };
typedef void (*queue_listener)(void *ctx, enum queue_event ev, uint64_t id);
int queue_subscribe(struct queue *q, queue_listener fn, void *ctx);
/* Removes a listener; when it returns, fn is not running and will not be
 * called again. Must not be called from inside a listener. -ENOENT when
 * (fn, ctx) is not subscribed. */
int queue_unsubscribe(struct queue *q, queue_listener fn, void *ctx);

/* ---- reports from modem channels (called by the daemon's wiring) ---- */

void queue_call_status(struct queue *q, uint64_t id, const char *device_status);
void queue_call_log(struct queue *q, uint64_t id, const char *line);
/* Pages confirmed by the remote, counted over the whole job. Persisted
 * before this returns, so a crash never resends them. */
void queue_call_pages_confirmed(struct queue *q, uint64_t id, int pages_sent);

struct queue_call_result {
    enum queue_failure failure;
    const char *code; /* stable error code, "" on success */
    const char *text; /* a sentence */
    int pages_sent;   /* total confirmed over the whole job */
    int bit_rate;
    int ecm;
    const char *compression;
    const char *remote_id;
    int duration; /* seconds */
    const char *transport; /* "g711", "t38", "sim", "exec"; NULL or "" unknown */
};
void queue_call_finished(struct queue *q, uint64_t id, const struct queue_call_result *res);
/* Batched calls: job id (one of the call's queue_call.more) is about to be
 * sent in the call, after the job before it. False when it is no longer
 * wanted (paused, canceled, the server stopping): it is not sent and the
 * call ends after the current job. True counts the attempt (durably). */
bool queue_call_next_document(struct queue *q, uint64_t id);
/* Batched calls: the call ended before job id's turn (the job on_line was
 * on the line): it goes back to the queue, not counted as an attempt. */
void queue_call_not_sent(struct queue *q, uint64_t id, uint64_t on_line);

/* ---- inbound calls: receive jobs (docs/lifecycle.md) ---------------- */

/* An inbound call was answered on modem: creates a JOB_RECEIVE job in
 * status receiving, owned by cfg->receive_uid/gid, with caller_id ("" when
 * the line does not know it). Durable before it returns; then QE_ADDED.
 * queue_call_status() and queue_call_log() report on it like on a send. */
int queue_receive_begin(struct queue *q, const char *modem, const char *caller_id, uint64_t *id_out);
/* The same, recording the number the caller dialed ("" or NULL unknown). */
int queue_receive_begin_called(struct queue *q, const char *modem, const char *caller_id, const char *called,
                               uint64_t *id_out);
/* A page arrived complete: page_fd holds it as a single-page TIFF (read
 * from offset 0; the fd stays the caller's). Stored durably as the job's
 * next pages/NNN.tif, counted, then QE_CHANGED: a page is never visible
 * half-written. -EINVAL not a TIFF, -EFBIG over max_document_bytes,
 * -EBUSY the job is not receiving, -ENOENT, or the spool's -errno. */
int queue_receive_page(struct queue *q, uint64_t id, int page_fd);
/* The call ended. res->failure QF_NONE makes the job done; anything else
 * failed, with res->code and res->text as the reason. The pages received
 * are kept either way; res->pages_sent is ignored. bit_rate, ecm,
 * compression, remote_id (the sender's TSI) and duration are recorded.
 * -EBUSY when the job is not receiving, -ENOENT. */
int queue_receive_finished(struct queue *q, uint64_t id, const struct queue_call_result *res);

/* ---- routing and deliveries of received faxes (docs/receiving.md) ---- */

/* Records the route chosen for a finished received fax: its owner and
 * group from now on, the route's name and the deliveries to make (all
 * pending). Durable before it returns, then QE_CHANGED. -EALREADY when
 * the job was routed before, -EBUSY when it is still receiving, -ENOENT,
 * -EINVAL for more than JOB_DELIVERIES_MAX deliveries. */
int queue_receive_route(struct queue *q, uint64_t id, const char *route, uid_t uid, gid_t gid,
                        const struct job_delivery *deliveries, int n);
/* Stores delivery index of the job as d (state, attempts, times, error),
 * durably, then QE_CHANGED; counts the outcome for the metrics when the
 * state moved to done, retrying or failed. -ENOENT, -EINVAL bad index,
 * -ESTALE when the slot now holds a newer attempt receipt (of_attempt
 * differs): the outcome is of one that made room and is dropped. */
int queue_delivery_update(struct queue *q, uint64_t id, int index, const struct job_delivery *d);
/* `redeliver` written to ctl: every delivery of the fax back to pending,
 * due now (attempts and first try start again). Owner or admin only
 * (-EPERM), a routed received fax only (-EINVAL with why). */
int queue_redeliver(struct queue *q, const struct queue_caller *who, uint64_t id, char *why, size_t whylen);


/* ---- spool checker -------------------------------------------------- */

/* Read-only check of the file spool at spool_dir, safe on a live spool:
 * writes one line per inconsistency to report (naming the job and the fix)
 * plus "note:" lines that need no action, then a summary line. Returns
 * the number of inconsistencies (0 = clean), or -errno when the spool
 * cannot be read at all. docs/reliability.md lists the checks. */
int queue_check_spool(const char *spool_dir, FILE *report);

#endif
