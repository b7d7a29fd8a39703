/*
 * deliver.h - routes each received fax once its call has ended and makes
 * its deliveries (docs/receiving.md): a file in a folder written as the
 * folder's owner, a print job, the route's command, a mail. Every
 * delivery is a record in the job, stored before it is tried and after;
 * failed tries are retried with back-off, also after a restart.
 */
#ifndef FAXFS_DELIVER_H
#define FAXFS_DELIVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "queue/queue.h"
#include "queue/receive_route.h"

/* A route's user and group names, resolved when the daemon starts. */
struct deliver_ids {
    bool has_owner;
    uid_t owner_uid;
    gid_t owner_gid;  /* the owner's primary group (not used for the fax) */
    bool has_group;
    gid_t group_gid;
    bool has_folder_owner;
    uid_t folder_uid; /* the folder file is written as this user */
    gid_t folder_gid;
};

struct deliver_config {
    const struct receive_routes *routes; /* NULL or none: no routing (received faxes stay the receive owner's) */
    struct deliver_ids ids[RECEIVE_ROUTES_MAX];
    uid_t receive_uid; /* owner when no route matches */
    gid_t receive_gid;
    struct delivery_policy policy;
    const char *print_command; /* words; the printer name is added; NULL: "lp -d" */
    const char *sendmail;      /* NULL: /usr/sbin/sendmail */
    bool sendmail_run_as;      /* --sendmail-user: sendmail runs as uid/gid */
    uid_t sendmail_uid;
    gid_t sendmail_gid;
    const char *scratch_dir;   /* where documents are assembled (root-only) */
    int timeout_seconds;       /* per child; 0: 120 */
    void (*log)(int level, const char *msg);
};

/* Resolves the routes' user and group names into ids. 0, or -ENOENT
 * with a sentence naming the route, the key and the fix. */
int deliver_resolve_ids(const struct receive_routes *routes, struct deliver_ids *ids, char *why, size_t whylen);

struct deliverer;
int deliverer_start(struct deliverer **out, struct queue *q, const struct deliver_config *cfg);
/* Unsubscribes, lets the delivery in progress end (bounded), frees. */
void deliverer_stop(struct deliverer *d);

#endif
