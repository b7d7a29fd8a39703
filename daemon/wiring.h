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
    struct queue *q; /* set after queue_open(); calls start only after that */
};

/* Line operations for queue_config.line; ctx is w. */
struct queue_line_ops wiring_line_ops(struct wiring *w);
enum queue_failure wiring_failure_of(enum modem_outcome o);

#endif
