/*
 * session.h - one call on one channel: dialing over a line, then a
 * spandsp T.30 session until a result. A session is a sender (session.c)
 * or the answering side of an inbound call (session_inbound.c, which
 * runs a receiver.c), over audio or, on SIP lines, T.38 (fax_engine.c):
 * the call may switch mid-way. The pool drives both kinds through here.
 */
#ifndef FAXFS_MODEM_SESSION_H
#define FAXFS_MODEM_SESSION_H

#include <limits.h>
#include <stdbool.h>

#include "modem/line.h"
#include "modem/modem.h"

struct session;

struct session_params {
    const struct line_driver *driver;
    struct line *line;
    const struct modem_send_request *req;
    const char *tx_file;        /* the joined multi-page TIFF; the session deletes it */
    const char *join_error;     /* non-NULL: the pages could not be prepared: fail at once */
    const char *default_tsid;
    const char *header_tz;      /* POSIX TZ for page headers (localtime is not thread safe) */
    const struct modem_events *ev;
    void *user;
};

/* Copies everything it needs. NULL when out of memory. */
struct session *session_create(const struct session_params *p);

/* Inbound calls are created by session_create_inbound (session_inbound.h). */
/* How the session's line is clocked. */
enum line_clock session_clock(const struct session *s);
/* Moves the call on: dials, exchanges the audio that is ready (one block
 * for pool-clocked lines), checks for completion. Returns true once the
 * call is over and hung up; then session_finish() and session_free(). */
bool session_service(struct session *s);
/* The pool may run some services of this call off its tick: from now on,
 * when the far end's final frame may make spandsp start a page, the frame
 * is held (hdlc_guard) until the next service, and session_may_block says
 * so. Only senders on audio. */
void session_allow_deferral(struct session *s);
/* Whether the next session_service may take milliseconds of work that
 * is not DSP: dialing (the line sets up its far end, and the spandsp state
 * for the answer is built), or handing T.30 a held frame that starts a page
 * (spandsp reads and encodes the whole page then). The pool runs such
 * services off its tick. Only senders. */
bool session_may_block(const struct session *s);
/* Delivers the result through finished(), exactly once. */
void session_finish(struct session *s);
/* Requests an abort; the next session_service ends the call. Thread safe. */
void session_request_abort(struct session *s);
/* The fd to poll while the call waits for audio, or -1. */
int session_poll_fd(const struct session *s);
/* Line time simulated so far (samples), for benchmarks. */
long session_samples(const struct session *s);
void session_free(struct session *s);

#endif
