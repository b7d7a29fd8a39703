/*
 * store.c - the queue's store chosen by --store, and the command-line
 * actions on stores (see store.h).
 */
#include "daemon/store.h"

#include <errno.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/backend_pg.h"
#include "queue/store_copy.h"

static bool is_pg(const char *store)
{
    return store != NULL && strcmp(store, "file") != 0 && backend_pg_is_conninfo(store);
}

void store_node_name(const struct daemon_options *opt, char *out, size_t outlen)
{
    char host[256] = "";

    if (opt->node != NULL) {
        snprintf(out, outlen, "%s", opt->node);
        return;
    }
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "faxfs");
    host[strcspn(host, ".")] = '\0'; /* the short name */
    snprintf(out, outlen, "%s", host);
}

int store_backend(const struct daemon_options *opt, struct queue_backend **be, char *why, size_t whylen)
{
    char node[256];

    *be = NULL;
    if (!is_pg(opt->store))
        return 0;
    if (backend_pg_conninfo_check(opt->store, why, whylen) != 0)
        return -EINVAL;
    store_node_name(opt, node, sizeof node);
    *be = backend_pg_create(opt->store, node);
    if (*be == NULL) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

void store_backend_free(struct queue_backend *be)
{
    backend_pg_destroy(be);
}

void store_describe(const struct daemon_options *opt, char *out, size_t outlen)
{
    if (!is_pg(opt->store)) {
        snprintf(out, outlen, "spool %s", opt->spool_dir);
        return;
    }
    char *err = NULL;
    PQconninfoOption *o = PQconninfoParse(opt->store, &err);
    const char *db = NULL, *host = NULL, *user = NULL;
    for (PQconninfoOption *p = o; p != NULL && p->keyword != NULL; p++) {
        if (strcmp(p->keyword, "dbname") == 0)
            db = p->val;
        else if (strcmp(p->keyword, "host") == 0)
            host = p->val;
        else if (strcmp(p->keyword, "user") == 0)
            user = p->val;
    }
    snprintf(out, outlen, "PostgreSQL database %s on %s%s%s (local cache in %s/pg-cache)", db ? db : "(default)",
             host ? host : "the default host", user ? " as " : "", user ? user : "", opt->spool_dir);
    PQconninfoFree(o);
    PQfreemem(err);
}

/* One side of a copy: a spool directory, or a database with a local
 * cache in a temporary directory made here (cache[0] set). */
struct side {
    const struct queue_backend *be;
    struct queue_backend *owned;
    const char *dir;
    char cache[64];
};

static int side_open(struct side *s, const char *value)
{
    memset(s, 0, sizeof *s);
    if (!backend_pg_is_conninfo(value)) {
        s->be = &queue_backend_spool;
        s->dir = value;
        return 0;
    }
    snprintf(s->cache, sizeof s->cache, "/tmp/faxfs-copy.XXXXXX");
    if (mkdtemp(s->cache) == NULL) {
        s->cache[0] = '\0';
        return -errno;
    }
    s->owned = backend_pg_create(value, "copy");
    if (s->owned == NULL)
        return -ENOMEM;
    s->be = s->owned;
    s->dir = s->cache;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

static void side_close(struct side *s)
{
    if (s->owned != NULL)
        backend_pg_destroy(s->owned);
    /* Only what this run made under its mkdtemp directory. */
    if (s->cache[0] != '\0' && nftw(s->cache, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "faxfs: could not remove %s\n", s->cache);
}

static int copy_stores(const char *from, const char *to)
{
    struct side a, b;
    char why[600] = "";
    int r = side_open(&a, from);

    if (r == 0)
        r = side_open(&b, to);
    else
        memset(&b, 0, sizeof b);
    if (r == 0)
        r = queue_store_copy(a.be, a.dir, b.be, b.dir, stdout, why, sizeof why);
    else
        snprintf(why, sizeof why, "%s", strerror(-r));
    side_close(&b);
    side_close(&a);
    if (r != 0) {
        fprintf(stderr, "faxfs: --copy-store: %s\n", why);
        return 1;
    }
    return 0;
}

int store_action(const struct daemon_options *opt)
{
    char why[600];

    if (opt->check_spool && backend_pg_is_conninfo(opt->check_spool)) {
        int r = backend_pg_check(opt->check_spool, stdout);
        if (r < 0)
            fprintf(stderr, "faxfs: cannot check the database: %s\n", strerror(-r));
        return r < 0 ? 2 : r > 0 ? 1 : 0;
    }
    if (opt->store_migrate) {
        if (backend_pg_migrate(opt->store, stdout, why, sizeof why) != 0) {
            fprintf(stderr, "faxfs: --store-migrate: %s\n", why);
            return 1;
        }
        return 0;
    }
    if (opt->copy_from)
        return copy_stores(opt->copy_from, opt->copy_to);
    return -1;
}
