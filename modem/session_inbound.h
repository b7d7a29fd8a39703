/*
 * session_inbound.h - the answering half of a session: an inbound call on
 * an accepted line call, driven like any session through session.h.
 */
#ifndef FAXFS_MODEM_SESSION_INBOUND_H
#define FAXFS_MODEM_SESSION_INBOUND_H

#include <stdbool.h>

#include "modem/line.h"

struct inbound_hub;
struct session;

/* An inbound call on an accepted line call: it rings until the line
 * knows the call (AudioSocket: the UUID frame), then the daemon is asked
 * (begin) and a receiver answers. The session owns call and the slot. */
struct session *session_create_inbound(const struct line_driver *drv, struct line_call *call,
                                       struct inbound_hub *hub, int slot);
/* session_service and session_free of an inbound session. */
bool session_inbound_service(struct session *s);
void session_inbound_free(struct session *s);

#endif
