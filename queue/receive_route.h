/*
 * receive_route.h - inbound routes: which person a received fax is for
 * and where it goes, chosen by the number dialed, the calling number and
 * the sender's CSI (docs/receiving.md). Pure: parsing, matching, file
 * names and the retry rule of deliveries; the daemon resolves user names
 * and runs the actions.
 */
#ifndef FAXFS_QUEUE_RECEIVE_ROUTE_H
#define FAXFS_QUEUE_RECEIVE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/number_pattern.h"
#include "queue/queue.h"

#define RECEIVE_ROUTES_MAX 64
#define RECEIVE_ROUTE_DEFAULT_NAME "fax-%Y%m%d-%H%M%S-%i"
#define RECEIVE_ROUTE_DEFAULT_MODE 0640

enum { ROUTE_FORMAT_PDF = 1, ROUTE_FORMAT_TIFF = 2 };

struct receive_route {
    char name[JOB_ROUTE_MAX];
    /* match keys; "" = any */
    char called[NUMBER_PATTERN_MAX];
    char caller[NUMBER_PATTERN_MAX];
    char csi[64];                  /* fnmatch(3) glob over the sender's CSI */
    /* actions; "" = none */
    char owner[64];                /* user name */
    char group[64];                /* group name */
    char mail[JOB_DELIVERY_TARGET_MAX];   /* addresses, comma separated */
    char folder[JOB_DELIVERY_TARGET_MAX]; /* absolute directory */
    char folder_name[128];         /* template; "" = RECEIVE_ROUTE_DEFAULT_NAME */
    int folder_format;             /* ROUTE_FORMAT_* bits; 0 = PDF */
    char folder_owner[64];         /* user name the file is written as */
    int folder_mode;               /* -1 = RECEIVE_ROUTE_DEFAULT_MODE */
    char print[64];                /* printer name */
    char command[512];             /* /bin/sh -c, with the job's FAXFS_* variables */
};

struct receive_routes {
    struct receive_route route[RECEIVE_ROUTES_MAX];
    int n;                         /* in order of first mention: the first match wins */
};

/* The keys of a [receive NAME] section, in the order docs/faxfs.5 lists them. */
extern const char *const receive_route_keys[];

/* Sets key of the route called name (made at its first mention) to value.
 * 0, or -EINVAL with a sentence naming the route, the key and the fix. */
int receive_route_set(struct receive_routes *t, const char *name, const char *key, const char *value, char *why,
                      size_t whylen);
/* Checks what only the whole route tells (folder-* without folder). */
int receive_routes_check(const struct receive_routes *t, char *why, size_t whylen);

/* The first route whose match keys all match (a route without match keys
 * matches everything); NULL when none does. Numbers are matched as
 * normalized; an unknown (empty) number matches only an unset key or "*". */
const struct receive_route *receive_route_match(const struct receive_routes *t, const char *called,
                                                const char *caller, const char *csi);

/* The deliveries a route asks for, as pending records (folder, print,
 * command, mail, in that order). Returns how many. */
int receive_route_deliveries(const struct receive_route *r, struct job_delivery *out, int max);

/* The file name of a fax in a folder: the template with %Y %m %d %H %M %S
 * (the time the call was answered, local time), %i (job id), %c (calling
 * number), %n (called number) and %% expanded, then ext (".pdf", ".tif").
 * Numbers keep digits and '+' only ("unknown" when empty); the result is
 * a single name component. 0, or -ENAMETOOLONG. */
int receive_route_file_name(const char *tmpl, const struct job *j, const char *ext, char *out, size_t outlen);

/* ---- deliveries: when to try again ---- */
#define DELIVERY_DELAYS_MAX 8
struct delivery_policy {
    int delays[DELIVERY_DELAYS_MAX]; /* seconds after the 1st, 2nd, ... failure; the last repeats */
    int ndelays;
    int give_up_s;                   /* no new try this long after the first */
};
#define DELIVERY_DEFAULT_DELAYS "60,300,900,3600"
#define DELIVERY_DEFAULT_GIVE_UP (24 * 3600)
/* "60,300,900,3600": seconds, ascending not required. 0 or -EINVAL with why. */
int delivery_policy_parse_delays(struct delivery_policy *p, const char *list, char *why, size_t whylen);

enum delivery_try { DELIVERY_TRY_OK, DELIVERY_TRY_TEMPORARY, DELIVERY_TRY_PERMANENT };
/* The record after one try that ended as `outcome` at now: done, or
 * retrying with the next try planned, or failed (permanent, or the
 * give-up time passed). error ("" on success) becomes the last error. */
void delivery_after_try(struct job_delivery *d, const struct delivery_policy *p, int64_t now, enum delivery_try outcome,
                        const char *error);
/* Whether the record wants a try at now. */
bool delivery_due(const struct job_delivery *d, int64_t now);

#endif
