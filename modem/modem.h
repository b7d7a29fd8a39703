/*
 * modem.h - software fax modems: a pool of channels, each running one
 * spandsp T.30 session over a line (the simulated phone network, or an
 * external audio command). modem/ knows nothing of FUSE or of the spool:
 * it is handed page files and a number, and reports progress and a result.
 */
#ifndef FAXFS_MODEM_H
#define FAXFS_MODEM_H

#include <stdbool.h>
#include <stddef.h>

/* How a call ended; each value is also a retry class. */
enum modem_outcome {
    MODEM_OK,
    MODEM_BUSY,
    MODEM_NO_ANSWER,
    MODEM_NO_LINE,   /* no dial tone, line unavailable */
    MODEM_NOT_FAX,   /* answered, but not by a fax machine */
    MODEM_DROPPED,   /* call dropped or T.30 protocol error: retry */
    MODEM_PERMANENT, /* retrying cannot help */
    MODEM_ABORTED,   /* modem_abort() or pool shutdown */
};
const char *modem_outcome_name(enum modem_outcome o);

struct modem_result {
    enum modem_outcome outcome;
    char code[32];   /* stable error code: "busy", "no_answer", "t30_..."; "" on success */
    char text[192];  /* a sentence for people */
    int pages_sent;  /* pages of this call the remote confirmed */
    int bit_rate;    /* -1 unknown */
    int ecm;         /* -1 unknown, 0, 1 */
    char compression[16]; /* "T.4 1D", "T.4 2D", "T.6", "" */
    char remote_id[40];   /* the remote's CSI */
    double duration;      /* seconds of line time from dial to hang-up */
    char transport[8];    /* how the fax travelled: "audio" (linear PCM lines), "g711", "t38"; "" before answer */
};

/* Callbacks run on a modem worker thread. They must not block for long
 * and must not call modem_send() or modem_abort() on the same pool. */
struct modem_events {
    void (*status)(void *user, const char *device_status); /* "dialing", "sending page 2 of 5 at 14400 bps" */
    void (*log)(void *user, const char *line);             /* readable T.30 transcript line */
    void (*page_confirmed)(void *user, int pages_sent);    /* pages of this call confirmed so far */
    void (*finished)(void *user, const struct modem_result *res); /* exactly once per accepted call */
    /* Batched calls only (modem_send_request.nmore > 0; NULL: no further
     * document is sent). The documents' pages go as one T.30 page stream
     * (MPS between pages of one format, EOM where the format changes).
     * document_next: the current document's last page was confirmed and
     * document doc (1..nmore) is next; false: it is not wanted any more and
     * the call ends now, a success for the current document (its first
     * page may have started: the remote sees the call end there).
     * document_done: then reports the current document complete; res holds
     * its pages of this call and its share of the line time (from its
     * start). From then on, page_confirmed, status and the final
     * finished() speak of the next document; finished() is about the
     * document on the line when the call ended. */
    bool (*document_next)(void *user, int doc);
    void (*document_done)(void *user, int doc, const struct modem_result *res);
};

/* A further document of a batched call: its own pages and numbering. */
struct modem_document {
    const char *const *page_paths;
    int page_count;
    int first_page_number;
    int total_pages;
};
#define MODEM_MAX_DOCUMENTS 64 /* documents in one call, the first included */

struct modem_send_request {
    const char *number;           /* normalized */
    const char *const *page_paths;/* single-page fax TIFFs, in order */
    int page_count;
    int first_page_number;        /* 1-based number of page_paths[0] within the job, for display */
    int total_pages;              /* pages in the whole job, for "page n of m" */
    const char *tsid;             /* station id, may be NULL */
    const char *header;           /* page header sender text, may be NULL */
    /* Modem settings of this call (0 for all three: the defaults). */
    int ecm;                      /* with ecm_set: 0 ECM off, 1 on */
    bool ecm_set;                 /* false: ECM as the modem defaults (on) */
    int max_bit_rate;             /* 0: none; <= 4800 V.27ter only, <= 9600 no V.17 */
    int min_bit_rate;             /* 0: none; >= 7200 no V.27ter; the call ends with
                                     code bit_rate_too_low when training settles below */
    bool no_t38;                  /* the call stays on audio: no T.38 asked or accepted */
    /* Batching: further documents sent in the same call after the pages
     * above (see modem_events.document_next). */
    const struct modem_document *more;
    int nmore;                    /* 0..MODEM_MAX_DOCUMENTS-1 */
};

enum modem_pace { MODEM_PACE_FAST, MODEM_PACE_REALTIME };

/* ---- Inbound calls ------------------------------------------------------
 * A call that reaches us (AudioSocket listener, or the simulated network
 * dialing our own station number) is answered by a T.30 receiver on an
 * inbound slot: slots are separate from the outbound channels, so
 * receiving never holds up sending. Callbacks run on a modem worker
 * thread, must not block for long, and must not destroy the pool. */

struct modem_inbound_call {
    const char *channel;   /* the inbound slot: "in0", "in1", ... */
    const char *line;      /* "sim" (loopback), "audiosocket", "sip" */
    const char *caller_id; /* the calling number; "" when the line does not know it */
    const char *call_ref;  /* the line's own reference (AudioSocket call UUID), or "" */
    /* The number that was dialed: the simulated network's station number
     * called, SIP's Request-URI user (else the To user), the AudioSocket
     * listener's configured number; "" when the line does not know it. */
    const char *called_number;
};

struct modem_rx_result {
    enum modem_outcome outcome; /* MODEM_OK, MODEM_NOT_FAX, MODEM_DROPPED, MODEM_ABORTED */
    char code[32];         /* stable error code as for sending; "" on success */
    char text[192];        /* a sentence for people */
    int pages_received;    /* complete pages delivered through page() */
    int bit_rate;          /* -1 unknown */
    int ecm;               /* -1 unknown, 0, 1 */
    char compression[16];  /* "T.4 1D", "T.4 2D", "T.6", "" */
    char remote_id[40];    /* the sender's TSI */
    double duration;       /* seconds of line time from answer to hang-up */
    char transport[8];     /* "audio", "g711" or "t38", as for sending */
};

struct modem_inbound_ops {
    /* A call arrives: return a per-call pointer to answer it, NULL to
     * refuse it (loopback callers hear busy, AudioSocket is hung up). */
    void *(*begin)(void *ctx, const struct modem_inbound_call *call);
    /* Page page_number (1-based) is complete: tiff_path is a single-page
     * fax TIFF that is deleted when page() returns; copy it. Return 0, or
     * -errno (the page is logged as lost; the call goes on). */
    int (*page)(void *user, int page_number, const char *tiff_path);
    void (*status)(void *user, const char *device_status); /* "receiving page 2 at 14400 bps" */
    void (*log)(void *user, const char *line);             /* readable T.30 transcript line */
    /* Exactly once per call begin() accepted, after its last page(). */
    void (*finished)(void *user, const struct modem_rx_result *res);
    /* Connections that never became a call (malformed first frame, all
     * slots busy): one line for the daemon's log. May be NULL. */
    void (*notice)(void *ctx, const char *line);
};

/* SIP lines (--line sip:HOST[:PORT], --listen sip:ADDR:PORT). */
struct modem_sip_options {
    const char *user;      /* From user and digest user name; NULL: "faxfs" */
    const char *password;  /* digest password; NULL: none */
    const char *local;     /* "ADDR[:PORT]" outbound SIP and media bind to; NULL: routed source, any port */
    const char *codecs;    /* "pcmu,pcma" (default), "pcma,pcmu", "pcmu", "pcma" */
    bool no_t38;           /* never offer nor accept T.38 (stay on G.711) */
    int ring_timeout_s;    /* outbound: no answer after this; 0: 60 */
    /* The SIP listener's admission (docs/sip.md, "Who may call"). */
    const char *allow;     /* allowed peers "ADDR[/BITS],..." or "any"; NULL: any */
    int calls_per_source;  /* inbound calls at once per source address; 0: 4 */
    const char *inbound_user;     /* INVITEs must carry this digest user; NULL: none asked */
    const char *inbound_password;
    /* Registration with a registrar (a trunk provider or a PBX), docs/sip.md. */
    const char *registrar;      /* "sip:HOST[:PORT]" to REGISTER with; NULL: no registration */
    const char *auth_user;      /* digest user name when it differs from user; NULL: user */
    int expires_s;              /* registration lifetime asked for; 0: 3600 */
    const char *outbound_proxy; /* "sip:HOST[:PORT]" every request goes through; NULL: none */
    int keepalive_s;            /* NAT keep-alive interval towards the registrar; 0: none */
};

/* One named line of the pool (docs/lines.md): its channels follow those
 * of the lines before it, in configuration order. */
struct modem_line_config {
    const char *name;      /* "default", "trunk", ... */
    const char *spec;      /* "sim", "exec:COMMAND" or "sip:HOST[:PORT]" */
    int channels;
    const char *tsid;      /* station id of calls on this line; NULL: the pool's */
    const char *header;    /* page header text when the job has no sender name; NULL: none */
    const char *caller_id; /* SIP: the From user when sip.user is not set; others: recorded only */
    struct modem_sip_options sip; /* SIP lines: user, password, registration... */
};

struct modem_pool_config {
    /* Lines: nlines > 0 uses lines[]; else one line "default" of
     * channels, line_spec, tsid and sip below. */
    const struct modem_line_config *lines;
    int nlines;
    int channels;
    const char *line_spec;  /* "sim" (default), "exec:COMMAND" or "sip:HOST[:PORT]" */
    enum modem_pace pace;   /* sim only; exec is paced by the command */
    const char *sim_dir;    /* where simulated receivers store pages: sim_dir/<number>/... */
    int sim_setup_seconds;  /* sim: line time from dial to answer; 0: 2 s */
    const char *scratch_dir;/* temp files (multi-page TIFFs built per call) */
    int workers;            /* DSP threads; 0 = number of CPUs */
    int dsp_priority;       /* 1..99: the DSP threads run SCHED_RR at it; 0: normal */
    const char *tsid;       /* default station id; also our CSI when answering */

    /* Inbound (all optional: zero means no inbound calls at all). */
    const struct modem_inbound_ops *inbound; /* NULL: no loopback, no listener */
    void *inbound_ctx;          /* passed to begin() and notice() */
    int inbound_slots;          /* inbound calls at once; 0 = 8 */
    /* Our numbers on the simulated network, comma-separated (each a DID
     * of ours that loops back to an inbound slot); NULL = "5550100". */
    const char *station_number;
    const char *audiosocket_number; /* the number the AudioSocket listener serves; NULL: unknown */
    const char *listen_spec;    /* "audiosocket:HOST:PORT" or "sip:ADDR:PORT" (PORT 0 picks one), or NULL */
    const char *const *listen_more; /* further listeners (NULL-terminated), at most one per kind */
    struct modem_sip_options sip;
    /* Tests only: answer each AudioSocket audio frame at once instead of
     * pacing our audio at 20 ms per frame, so a client drives the clock. */
    bool listen_unpaced;
    /* Who may connect to the AudioSocket listener: "ADDR[/BITS],..." or
     * "any"; NULL: loopback only (127.0.0.0/8, ::1). */
    const char *audiosocket_allow;
    /* Caps per received fax: the call ends there, the pages received
     * are kept and the receive fails with the reason. 0: the defaults
     * (200 pages, 3600 seconds of line time, 100 MiB). */
    int receive_max_pages;
    int receive_max_seconds;
    long long receive_max_bytes; /* pages' bytes per fax; 0: 100 MiB */
};

/* Registration of a SIP line with its registrar. */
enum modem_line_reg {
    MODEM_LINE_REG_NONE,        /* the line does not register (sim, exec, SIP without registrar) */
    MODEM_LINE_REG_REGISTERING, /* first REGISTER out, or re-registering after a failure */
    MODEM_LINE_REG_REGISTERED,
    MODEM_LINE_REG_FAILED,      /* refused or unreachable; retried with back-off */
};

struct modem_line_status {
    enum modem_line_reg reg;
    bool usable;          /* calls can be placed on this line now */
    char text[160];       /* for people: "registered as sip:fax@example.net, expires in 3540 s",
                             "registration failed: 403 Forbidden (next try in 60 s)" */
    long long reg_expires; /* unix seconds the registration runs out; 0: none */
};

struct modem_pool;

/* The status of line index (0-based, in configuration order). -EINVAL
 * for an index the pool does not have. */
int modem_pool_line_status(const struct modem_pool *pool, int line, struct modem_line_status *out);

/* Returns 0 or -errno with a sentence in err. */
int modem_pool_create(struct modem_pool **out, const struct modem_pool_config *cfg, char *err, size_t errlen);
/* Aborts every call (each gets finished(MODEM_ABORTED)) and joins threads. */
void modem_pool_destroy(struct modem_pool *pool);
int modem_pool_channels(const struct modem_pool *pool);
const char *modem_channel_name(const struct modem_pool *pool, int channel);

/* Starts a call on an idle channel. Returns 0 (finished() will follow
 * exactly once), -EBUSY if the channel has a call, -EINVAL for a bad
 * request. The request is copied. */
int modem_send(struct modem_pool *pool, int channel, const struct modem_send_request *req,
               const struct modem_events *ev, void *user);
/* Aborts the channel's call at once: T.30 terminated, line hung up. */
void modem_abort(struct modem_pool *pool, int channel);

/* Real-time ticks that started more than half a tick late (pace realtime):
 * zero means every channel kept up. */
long modem_pool_overruns(const struct modem_pool *pool);
/* Ticks of single calls that were skipped while the pool's preparation
 * lane did a call's set-up or page work off the tick (real-time pace):
 * each is 20 ms by which that one call fell behind the wall clock. */
long modem_pool_lane_waits(const struct modem_pool *pool);
/* Services of calls the preparation lane ran (dials, page starts). */
long modem_pool_lane_runs(const struct modem_pool *pool);
/* Why dsp_priority was not applied (for the log), or NULL when it was or
 * was not asked for. */
const char *modem_pool_priority_note(const struct modem_pool *pool);
/* Seconds of line time of the calls finished so far (benchmarks). */
double modem_pool_line_seconds(const struct modem_pool *pool);

/* The TCP port the AudioSocket listener is bound to (useful with port
 * 0), or -1 when the pool does not listen. */
int modem_pool_listen_port(const struct modem_pool *pool);
/* The UDP port the SIP listener is bound to, or -1 when there is none. */
int modem_pool_sip_port(const struct modem_pool *pool);
/* Inbound calls in progress (slots taken), for status displays. */
int modem_pool_inbound_active(const struct modem_pool *pool);

/* Lines of the pool, and the line a channel belongs to (-1: no such channel). */
int modem_pool_line_count(const struct modem_pool *pool);
int modem_channel_line(const struct modem_pool *pool, int channel);

/* Documents the reserved numbers of the simulated network (for --help). */
const char *modem_sim_numbers_help(void);

#endif
