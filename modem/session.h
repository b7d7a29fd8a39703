/*
 * session.h - one call on one channel: dialing over a line, then a
 * spandsp T.30 session until a result. A session is a sender
 * or the answering side of an inbound call (receiver.c), over audio or,
 * on SIP lines, T.38 (fax_engine.c): the call may switch mid-way.
 */
#ifndef FAXFS_MODEM_SESSION_H
#define FAXFS_MODEM_SESSION_H

#include <stdbool.h>

#include "modem/line.h"
#include "modem/modem.h"

enum session_role { SESSION_SEND, SESSION_RECEIVE };

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

struct inbound_hub;

/* An inbound call on an accepted line call: it rings until the line
 * knows the call (AudioSocket: the UUID frame), then the daemon is asked
 * (begin) and a receiver answers. The session owns call and the slot. */
struct session *session_create_inbound(const struct line_driver *drv, struct line_call *call,
                                       struct inbound_hub *hub, int slot);
/* How the session's line is clocked. */
enum line_clock session_clock(const struct session *s);
/* Moves the call on: dials, exchanges the audio that is ready (one block
 * for pool-clocked lines), checks for completion. Returns true once the
 * call is over and hung up; then session_finish() and session_free(). */
bool session_service(struct session *s);
/* Delivers the result through finished(), exactly once. */
void session_finish(struct session *s);
/* Requests an abort; the next session_service ends the call. Thread safe. */
void session_request_abort(struct session *s);
/* The fd to poll while the call waits for audio, or -1. */
int session_poll_fd(const struct session *s);
/* Line time simulated so far (samples), for benchmarks. */
long session_samples(const struct session *s);
void session_free(struct session *s);
/* spandsp log lines that say nothing to a reader of a call transcript. */
bool session_log_is_noise(const char *text);

#endif
