/*
 * wiring.h - connects the queue engine to the modem pool: the queue's
 * line operations are served by modem channels, and each channel's events
 * become queue reports. Neither module knows the other.
 */
#ifndef FAXFS_WIRING_H
#define FAXFS_WIRING_H

#include "modem/modem.h"
#include "queue/queue.h"

struct wiring {
    struct modem_pool *pool;
    struct queue *q; /* set by queue_open() before it dispatches anything */
    struct queue *inbound_q; /* set (atomically) once the queue is open */
    void (*log)(int level, const char *msg); /* daemon log, for line notices */
};

/* Line operations for queue_config.line; ctx is w. */
struct queue_line_ops wiring_line_ops(struct wiring *w);
/* Inbound call operations for modem_pool_config.inbound; ctx is w. An
 * inbound call arriving before w->inbound_q is set is refused (the caller hears
 * busy), so the pool may listen before the queue is open. */
extern const struct modem_inbound_ops wiring_inbound_ops;
enum queue_failure wiring_failure_of(enum modem_outcome o);

#endif
