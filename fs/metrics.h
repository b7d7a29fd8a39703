/*
 * metrics.h - MOUNT/metrics: the queue's counters in the Prometheus text
 * exposition format (version 0.0.4), so a node_exporter textfile collector,
 * a script or `curl file://` reads them. A pure function of a snapshot of
 * struct queue_metrics, so the unit tests check the exact text.
 */
#ifndef FAXFS_FS_METRICS_H
#define FAXFS_FS_METRICS_H

#include <stddef.h>

#include "queue/queue.h"

/* Room for every metric with every counter at its largest. */
#define FS_METRICS_MAX 16384

/* Writes the exposition text; returns its length (< outlen) or -ENOSPC. */
int fs_render_metrics(const struct queue_metrics *m, char *out, size_t outlen);

#endif
