/*
 * outbox.c - the in-memory side of outbox/: uploads being written, the
 * .error files left by refused submissions, and drafts with their fields
 * and documents, with what each user holds of them. Nothing here is
 * durable: a draft does not survive a restart, a submitted job does (it
 * lives in the queue). Entries are found by name and by serial through hash
 * tables, so no lookup walks the outbox. Callers hold outbox.lock around
 * every function here.
 */
#include "fs/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FS_OUTBOX_MIN_BUCKETS 64

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t slot_of_serial(const struct fs_outbox *ob, uint64_t serial)
{
    return (size_t)(serial * 0x9e3779b97f4a7c15ull >> 20) & (ob->nbuckets - 1);
}

static size_t slot_of_name(const struct fs_outbox *ob, const char *name)
{
    return (size_t)hash_name(name) & (ob->nbuckets - 1);
}

int fs_outbox_init(struct fs_outbox *ob, const struct fs_limits *limits)
{
    memset(ob, 0, sizeof *ob);
    pthread_mutex_init(&ob->lock, NULL);
    ob->next_serial = 1;
    ob->nbuckets = FS_OUTBOX_MIN_BUCKETS;
    ob->by_name = calloc(ob->nbuckets, sizeof *ob->by_name);
    ob->by_serial = calloc(ob->nbuckets, sizeof *ob->by_serial);
    if (limits)
        ob->limits = *limits;
    if (ob->limits.errors_per_user == 0)
        ob->limits.errors_per_user = FS_DEFAULT_ERRORS_PER_USER;
    if (ob->limits.errors_total == 0)
        ob->limits.errors_total = FS_DEFAULT_ERRORS_TOTAL;
    return ob->by_name && ob->by_serial ? 0 : -ENOMEM;
}

/* ---- per-user accounting ---- */

bool fs_outbox_may_change(uid_t owner, uid_t caller)
{
    return caller == 0 || caller == owner;
}

struct fs_outbox_user *fs_outbox_user(struct fs_outbox *ob, uid_t uid, bool create)
{
    struct fs_outbox_user **pp = &ob->users[uid % FS_OUTBOX_USER_SLOTS];

    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->uid == uid)
            return *pp;
    if (!create || !(*pp = calloc(1, sizeof **pp)))
        return NULL;
    (*pp)->uid = uid;
    return *pp;
}

/* A user holding nothing is forgotten, so the table is bounded by users
 * with something in the outbox. */
static void user_release(struct fs_outbox *ob, struct fs_outbox_user *u)
{
    if (u->drafts || u->errors || u->handles || u->bytes || u->submitting)
        return;
    for (struct fs_outbox_user **pp = &ob->users[u->uid % FS_OUTBOX_USER_SLOTS]; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            free(u);
            return;
        }
}

int fs_outbox_may_add_draft(struct fs_outbox *ob, uid_t uid)
{
    struct fs_outbox_user *u = fs_outbox_user(ob, uid, false);

    if (uid == 0 || ob->limits.drafts_per_user <= 0)
        return 0;
    return u && u->drafts >= ob->limits.drafts_per_user ? -EDQUOT : 0;
}

int fs_outbox_resize(struct fs_outbox *ob, uid_t uid, uint64_t old, uint64_t new)
{
    struct fs_outbox_user *u = fs_outbox_user(ob, uid, new > old);

    if (new > old) {
        if (!u)
            return -ENOMEM;
        if (uid != 0 && ob->limits.bytes_per_file && new > ob->limits.bytes_per_file) {
            user_release(ob, u);
            return -EFBIG;
        }
        if (uid != 0 && ob->limits.bytes_per_user && u->bytes + (new - old) > ob->limits.bytes_per_user) {
            user_release(ob, u);
            return -EDQUOT;
        }
        u->bytes += new - old;
    } else if (u) {
        u->bytes -= old - new < u->bytes ? old - new : u->bytes;
        user_release(ob, u);
    }
    return 0;
}

int fs_outbox_handle_get(struct fs_outbox *ob, uid_t uid)
{
    struct fs_outbox_user *u = fs_outbox_user(ob, uid, true);

    if (!u)
        return -ENOMEM;
    if (uid != 0 && ob->limits.handles_per_user > 0 && u->handles >= ob->limits.handles_per_user) {
        user_release(ob, u);
        return -EMFILE;
    }
    u->handles++;
    return 0;
}

void fs_outbox_handle_put(struct fs_outbox *ob, uid_t uid)
{
    struct fs_outbox_user *u = fs_outbox_user(ob, uid, false);

    if (u && u->handles > 0) {
        u->handles--;
        user_release(ob, u);
    }
}

int fs_outbox_submit_begin(struct fs_outbox *ob, uid_t uid)
{
    struct fs_outbox_user *u = fs_outbox_user(ob, uid, true);

    if (!u)
        return -ENOMEM;
    if (uid != 0 && (u->submitting >= FS_SUBMITS_PER_USER || ob->submitting >= FS_SUBMITS_TOTAL)) {
        user_release(ob, u);
        return -EAGAIN;
    }
    u->submitting++;
    ob->submitting++;
    return 0;
}

void fs_outbox_submit_end(struct fs_outbox *ob, uid_t uid)
{
    struct fs_outbox_user *u = fs_outbox_user(ob, uid, false);

    if (ob->submitting > 0)
        ob->submitting--;
    if (u && u->submitting > 0) {
        u->submitting--;
        user_release(ob, u);
    }
}

/* ---- entries ---- */

static void drop_doc_file(struct fs_outbox *ob, struct draft_doc *d)
{
    if (d->fd >= 0)
        close(d->fd);
    if (d->token[0] && ob->drop_file)
        ob->drop_file(ob->drop_ctx, d->token);
}

/* Gives back what the entry counted against its owner. */
static void entry_unaccount(struct fs_outbox *ob, struct outbox_entry *e)
{
    struct fs_outbox_user *u = fs_outbox_user(ob, e->uid, false);
    uint64_t bytes = e->size;

    for (size_t i = 0; i < e->ndocs; i++)
        bytes += e->docs[i].size;
    if (e->kind == OB_ERROR)
        ob->nerrors--;
    if (!u)
        return;
    if (e->kind == OB_DRAFT && u->drafts > 0)
        u->drafts--;
    if (e->kind == OB_ERROR && u->errors > 0)
        u->errors--;
    u->bytes -= bytes < u->bytes ? bytes : u->bytes;
    user_release(ob, u);
}

static void entry_free(struct fs_outbox *ob, struct outbox_entry *e)
{
    if (e->fd >= 0)
        close(e->fd);
    for (size_t i = 0; i < e->ndocs; i++)
        drop_doc_file(ob, &e->docs[i]);
    free(e->docs);
    free(e->text);
    free(e);
}

static void unchain(struct outbox_entry **pp, struct outbox_entry *e, bool by_name)
{
    for (; *pp; pp = by_name ? &(*pp)->name_next : &(*pp)->serial_next)
        if (*pp == e) {
            *pp = by_name ? e->name_next : e->serial_next;
            return;
        }
}

static void entry_unlink(struct fs_outbox *ob, struct outbox_entry *e)
{
    unchain(&ob->by_name[slot_of_name(ob, e->name)], e, true);
    unchain(&ob->by_serial[slot_of_serial(ob, e->serial)], e, false);
    if (e->prev)
        e->prev->next = e->next;
    else
        ob->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        ob->tail = e->prev;
    ob->count--;
    entry_unaccount(ob, e);
}

void fs_outbox_free(struct fs_outbox *ob)
{
    while (ob->head) {
        struct outbox_entry *e = ob->head;
        entry_unlink(ob, e);
        entry_free(ob, e);
    }
    for (size_t i = 0; i < FS_OUTBOX_USER_SLOTS; i++)
        while (ob->users[i]) {
            struct fs_outbox_user *u = ob->users[i];
            ob->users[i] = u->next;
            free(u);
        }
    free(ob->by_name);
    free(ob->by_serial);
    pthread_mutex_destroy(&ob->lock);
}

void fs_outbox_remove(struct fs_outbox *ob, struct outbox_entry *e)
{
    entry_unlink(ob, e);
    entry_free(ob, e);
}

struct outbox_entry *fs_outbox_find(struct fs_outbox *ob, const char *name, int64_t now)
{
    for (struct outbox_entry *e = ob->by_name[slot_of_name(ob, name)]; e; e = e->name_next)
        if (strcmp(e->name, name) == 0) {
            if (e->kind == OB_ERROR && e->expires <= now) {
                fs_outbox_remove(ob, e);
                return NULL;
            }
            return e;
        }
    return NULL;
}

struct outbox_entry *fs_outbox_get(struct fs_outbox *ob, uint64_t serial)
{
    for (struct outbox_entry *e = ob->by_serial[slot_of_serial(ob, serial)]; e; e = e->serial_next)
        if (e->serial == serial)
            return e;
    return NULL;
}

/* Doubles the tables when they hold more than two entries per bucket. */
static void grow(struct fs_outbox *ob)
{
    size_t n = ob->nbuckets * 2;
    struct outbox_entry **bn = calloc(n, sizeof *bn), **bs = calloc(n, sizeof *bs);

    if (!bn || !bs) { /* longer chains, still correct */
        free(bn);
        free(bs);
        return;
    }
    free(ob->by_name);
    free(ob->by_serial);
    ob->by_name = bn;
    ob->by_serial = bs;
    ob->nbuckets = n;
    for (struct outbox_entry *e = ob->head; e; e = e->next) {
        size_t a = slot_of_name(ob, e->name), b = slot_of_serial(ob, e->serial);
        e->name_next = bn[a];
        bn[a] = e;
        e->serial_next = bs[b];
        bs[b] = e;
    }
}

/* The oldest .error entry of uid, or of anyone when all is set. */
static struct outbox_entry *oldest_error(struct fs_outbox *ob, uid_t uid, bool all)
{
    for (struct outbox_entry *e = ob->head; e; e = e->next)
        if (e->kind == OB_ERROR && (all || e->uid == uid))
            return e;
    return NULL;
}

/* Appends, so the listing stays in creation (= serial = offset) order. */
struct outbox_entry *fs_outbox_add(struct fs_outbox *ob, enum outbox_kind kind, const char *name, uid_t uid)
{
    struct fs_outbox_user *u;
    struct outbox_entry *e;

    if (kind == OB_ERROR) {
        /* Remembered reasons are a courtesy: the oldest make room. */
        struct outbox_entry *old;
        while ((u = fs_outbox_user(ob, uid, false)) && u->errors >= ob->limits.errors_per_user
               && (old = oldest_error(ob, uid, false)))
            fs_outbox_remove(ob, old);
        while (ob->nerrors >= (size_t)ob->limits.errors_total && (old = oldest_error(ob, uid, true)))
            fs_outbox_remove(ob, old);
    }
    if (!(u = fs_outbox_user(ob, uid, true)))
        return NULL;
    if (!(e = calloc(1, sizeof *e))) {
        user_release(ob, u);
        return NULL;
    }
    if (ob->count >= ob->nbuckets * 2)
        grow(ob);
    e->serial = ob->next_serial++;
    e->kind = kind;
    e->fd = -1;
    e->uid = uid;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->mtime = fs_now();
    e->prev = ob->tail;
    if (ob->tail)
        ob->tail->next = e;
    else
        ob->head = e;
    ob->tail = e;
    size_t a = slot_of_name(ob, e->name), b = slot_of_serial(ob, e->serial);
    e->name_next = ob->by_name[a];
    ob->by_name[a] = e;
    e->serial_next = ob->by_serial[b];
    ob->by_serial[b] = e;
    ob->count++;
    if (kind == OB_DRAFT)
        u->drafts++;
    if (kind == OB_ERROR) {
        u->errors++;
        ob->nerrors++;
    }
    return e;
}

int fs_outbox_sweep(struct fs_outbox *ob, int64_t now)
{
    int64_t idle = ob->limits.draft_expire_seconds;
    int dropped = 0;

    for (struct outbox_entry *e = ob->head, *next; e; e = next) {
        next = e->next;
        bool expired = e->kind == OB_ERROR && e->expires <= now;
        bool stale = e->kind == OB_DRAFT && idle > 0 && !e->busy && e->handles == 0 && e->mtime + idle <= now;
        if (stale) {
            char who[NAME_MAX * 4 + 1];
            fs_log_escape(e->name, who, sizeof who);
            fprintf(stderr, "faxfs: outbox/%s: draft of uid %lld untouched for %lld s, removed (--draft-expire-days)\n",
                    who, (long long)e->uid, (long long)idle);
            dropped++;
        }
        if (expired || stale)
            fs_outbox_remove(ob, e);
    }
    return dropped;
}

/* ---- draft documents ---- */

struct draft_doc *fs_draft_doc_find(struct outbox_entry *e, const char *name)
{
    size_t lo = 0, hi = e->ndocs;

    while (lo < hi) { /* sorted by name */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(e->docs[mid].name, name);
        if (c == 0)
            return &e->docs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

struct draft_doc *fs_draft_doc_get(struct outbox_entry *e, uint32_t serial)
{
    for (size_t i = 0; i < e->ndocs; i++)
        if (e->docs[i].serial == serial)
            return &e->docs[i];
    return NULL;
}

/* Documents are kept sorted by name: that is the order they are sent in. */
int fs_draft_doc_add(struct outbox_entry *e, const char *name, int fd, const char *token, struct draft_doc **out)
{
    struct draft_doc *v = realloc(e->docs, (e->ndocs + 1) * sizeof *v);
    size_t at = 0;

    if (!v)
        return -ENOMEM;
    e->docs = v;
    while (at < e->ndocs && strcmp(v[at].name, name) < 0)
        at++;
    memmove(&v[at + 1], &v[at], (e->ndocs - at) * sizeof *v);
    memset(&v[at], 0, sizeof v[at]);
    v[at].serial = e->next_doc++;
    snprintf(v[at].name, sizeof v[at].name, "%s", name);
    snprintf(v[at].token, sizeof v[at].token, "%s", token ? token : "");
    v[at].fd = fd;
    v[at].mtime = fs_now();
    e->ndocs++;
    *out = &v[at];
    return 0;
}

void fs_draft_doc_remove(struct fs_outbox *ob, struct outbox_entry *e, struct draft_doc *d)
{
    size_t at = (size_t)(d - e->docs);

    fs_outbox_resize(ob, e->uid, d->size, 0);
    drop_doc_file(ob, d);
    memmove(&e->docs[at], &e->docs[at + 1], (e->ndocs - at - 1) * sizeof *d);
    e->ndocs--;
}
