/*
 * line.h - the line driver seam: how a channel reaches the far end.
 * A driver dials a number, exchanges 8 kHz 16-bit audio with the far end
 * and hangs up. "sim" (line_sim.c) is an in-process phone network of
 * simulated fax machines; "exec:COMMAND" (line_exec.c) bridges each call
 * to an external program; accepted AudioSocket connections
 * (line_audiosocket.c) are inbound calls on the same seam. SIP lines
 * (line_sip.c) are packet lines: audio comes and goes as RTP packets,
 * each way on its own clock, and a call may switch to T.38 (IFPs).
 */
#ifndef FAXFS_MODEM_LINE_H
#define FAXFS_MODEM_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modem/modem.h"

#define LINE_BLOCK 160 /* samples in one 20 ms block at 8 kHz */

/* Where a call stands, as the line sees it. */
enum line_state {
    LINE_DIALING,   /* ringing, no audio yet */
    LINE_ANSWERED,  /* audio flows */
    LINE_BUSY,
    LINE_NO_ANSWER,
    LINE_NO_LINE,   /* no dial tone, line unavailable */
    LINE_FAILED,    /* the call could not be placed */
    LINE_HUNG_UP,   /* the far end hung up after answering */
};

/* How a driver's audio is clocked. */
enum line_clock {
    LINE_CLOCK_POOL,     /* the worker's tick (fast or real-time pace) drives it */
    LINE_CLOCK_FD,       /* the far end's audio arrival drives it (poll the fd) */
    LINE_CLOCK_REALTIME, /* one block per 20 ms of wall clock, whatever the pool's pace */
};

/* What a packet line's call carries right now. */
enum line_media { LINE_MEDIA_AUDIO, LINE_MEDIA_T38 };

/* Where a packet line delivers what it received (line_driver.receive). */
struct line_packet_sink {
    void (*audio)(void *user, const int16_t *buf, int n);        /* samples, in order */
    void (*audio_lost)(void *user, int n);                       /* samples lost in transit */
    void (*ifp)(void *user, const uint8_t *buf, int len, uint16_t seq); /* T.38 IFP, once each, in order */
};

struct line;      /* one per pool: the driver's shared state */
struct line_call; /* one per call */

struct inbound_hub;
struct sip_call;

struct line_config {
    const char *arg;       /* the text after "exec:"; NULL for sim */
    enum modem_pace pace;
    const char *sim_dir;
    int sim_setup_seconds;   /* sim: line time from dial to answer; 0: the default */
    struct inbound_hub *hub; /* inbound calls (sim loopback); NULL: none */
    const struct modem_sip_options *sip; /* SIP lines */
    /* SIP lines that register: calls arriving at the registered contact
     * go where the SIP listener's go (NULL: they hear 486), and changes
     * of the registration are told through sip_notice. */
    const char *name;                    /* the line's name, for the log */
    int (*sip_incoming)(void *user, struct sip_call *call, const char *caller_id);
    void (*sip_notice)(void *user, const char *line);
    void *sip_user;
};

struct line_driver {
    const char *name;
    enum line_clock clock;
    int (*create)(struct line **out, const struct line_config *cfg, char *err, size_t errlen);
    void (*destroy)(struct line *line);
    /* Starts a call to a normalized number; -errno if it cannot even start. */
    int (*dial)(struct line *line, const char *number, struct line_call **out);
    enum line_state (*state)(struct line_call *call);
    /* Received audio: returns samples (0 when none is ready yet), or -1
     * once the call is not (or no longer) answered: see state(). */
    int (*read)(struct line_call *call, int16_t *buf, int max);
    /* Audio to send: exactly as many samples as the last read returned. */
    void (*write)(struct line_call *call, const int16_t *buf, int n);
    /* For LINE_CLOCK_FD: the fd to poll for input, -1 when none. */
    int (*poll_fd)(struct line_call *call);
    /* Ends the call (either side) and frees it. */
    void (*hangup)(struct line_call *call);
    /* Housekeeping between ticks (e.g. reaping exited commands);
     * final: the pool is going away, finish everything now. May be NULL. */
    bool (*maintain)(struct line *line, bool final); /* true: call again soon */
    /* Inbound lines only (NULL elsewhere): who is calling, the line's own
     * reference for the call, and why it failed (LINE_FAILED). */
    const char *(*caller_id)(struct line_call *call);
    const char *(*called_number)(struct line_call *call); /* the number dialed; may be NULL */
    const char *(*call_ref)(struct line_call *call);
    const char *(*error_text)(struct line_call *call);
    /* Packet lines only (NULL elsewhere; read is then unused and write
     * sends one packet of our audio per call, whatever was received). */
    enum line_media (*media)(struct line_call *call);
    /* Takes in everything that arrived and hands it to sink. */
    void (*receive)(struct line_call *call, const struct line_packet_sink *sink, void *user);
    /* Sends one T.38 IFP (with the line's own redundancy). */
    void (*send_ifp)(struct line_call *call, const uint8_t *ifp, int len);
    /* "g711" or "t38": what the call carries, for results. */
    const char *(*transport)(struct line_call *call);
    /* Who moved the call to the media it carries now, for the log:
     * "faxfs asked", "the remote asked", or NULL when the line cannot
     * tell (optional). */
    const char *(*media_origin)(struct line_call *call);
    /* LINE_NO_LINE: the stable code ("line_unregistered", "line_503")
     * naming why (optional; error_text says it for people). */
    const char *(*error_code)(struct line_call *call);
    /* How the line stands (registration), optional: without it a line
     * is always usable. */
    void (*status)(struct line *line, struct modem_line_status *out);
    /* This call stays on audio: no T.38 asked for or accepted (optional;
     * lines without T.38 need not have it). */
    void (*forbid_t38)(struct line_call *call);
};

extern const struct line_driver line_sim_driver;
extern const struct line_driver line_exec_driver;
/* Accepted AudioSocket connections (line_audiosocket.c): paced at 20 ms
 * per frame, or (tests) answering each frame as it arrives. */
extern const struct line_driver line_audiosocket_driver;
extern const struct line_driver line_audiosocket_unpaced_driver;
/* SIP: outbound calls to a peer (line_sip.c), and inbound calls taken
 * by the pool's SIP listener (sip_line_listen). */
extern const struct line_driver line_sip_driver;

struct sip_listener;
struct sip_call;
/* Called on the SIP agent's thread for each call offered to the
 * listener: wrap it (sip_line_call_new) and hand it over, or return
 * -EBUSY (the caller hears 486). Must not block. */
typedef int (*sip_line_incoming_fn)(void *user, struct sip_call *call, const char *caller_id);
/* One line for the daemon's log (a refused caller), on the agent's thread. */
typedef void (*sip_line_notice_fn)(void *user, const char *line);
/* Starts a SIP user agent answering on "ADDR:PORT" (the text after
 * "sip:"). Returns 0 or -errno with a sentence in err. */
int sip_line_listen(struct sip_listener **out, const char *addrport, const struct modem_sip_options *opt,
                    sip_line_incoming_fn fn, sip_line_notice_fn notice, void *user, char *err, size_t errlen);
void sip_line_listener_free(struct sip_listener *l);
int sip_line_listener_port(const struct sip_listener *l);
/* Wraps an answered inbound SIP call as a line call (takes the reference). */
struct line_call *sip_line_call_new(struct sip_call *call);
/* Undoes sip_line_call_new for a call that is refused after all: the
 * reference goes back to the agent (which answers 486). NULL is fine. */
void sip_line_call_discard(struct line_call *call);

/* Opens the listening socket for "HOST:PORT" (the text after
 * "audiosocket:"). Returns the fd, or -errno with a sentence in err. */
int audiosocket_listen(const char *hostport, int *port_out, char *err, size_t errlen);
/* Wraps an accepted, non-blocking connection as an inbound call. */
struct line_call *audiosocket_call_new(int fd, const char *peer);

#endif
