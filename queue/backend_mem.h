/*
 * backend_mem.h - an in-memory storage backend for tests. The store
 * outlives queue_open()/queue_close(), so a test can "restart" the engine
 * over the same state, and it can be told to fail the next operation of a
 * kind, the way a full disk would.
 */
#ifndef FAXFS_QUEUE_BACKEND_MEM_H
#define FAXFS_QUEUE_BACKEND_MEM_H

#include "queue/backend.h"

enum backend_mem_fault {
    MEM_FAULT_NEXT_ID,
    MEM_FAULT_UPDATE,
    MEM_FAULT_COMMIT,
    MEM_FAULT_APPEND_LOG,
    MEM_FAULT_REMOVE,
    MEM_FAULT_SET_PAUSED,
    MEM_FAULT_ADD_PAGE,
    MEM_FAULT_COUNT
};

struct queue_backend *backend_mem_create(void);
void backend_mem_destroy(struct queue_backend *b);
/* The next operation of that kind fails with -err (err > 0). */
void backend_mem_fail_next(struct queue_backend *b, enum backend_mem_fault f, int err);
/* Stores raw job file text for id as if written by an older run, for
 * recovery tests; pages become empty placeholders. */
int backend_mem_put_raw(struct queue_backend *b, uint64_t id, const char *job_text, int pages);
/* The stored job text (NULL if none); valid until the next change. */
const char *backend_mem_job_text(struct queue_backend *b, uint64_t id);

#endif
