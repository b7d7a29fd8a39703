/*
 * outbox.c - the in-memory side of outbox/: uploads being written, the
 * .error files left by refused submissions, and drafts with their fields
 * and documents. Nothing here is durable: a draft does not survive a
 * restart, a submitted job does (it lives in the queue). Callers hold
 * outbox.lock around every function here.
 */
#include "fs/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fs_outbox_init(struct fs_outbox *ob)
{
    pthread_mutex_init(&ob->lock, NULL);
    ob->head = NULL;
    ob->next_serial = 1;
}

static void entry_free(struct outbox_entry *e)
{
    if (e->fd >= 0)
        close(e->fd);
    for (size_t i = 0; i < e->ndocs; i++)
        close(e->docs[i].fd);
    free(e->docs);
    free(e->text);
    free(e);
}

void fs_outbox_free(struct fs_outbox *ob)
{
    while (ob->head) {
        struct outbox_entry *e = ob->head;
        ob->head = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&ob->lock);
}

struct outbox_entry *fs_outbox_find(struct fs_outbox *ob, const char *name, int64_t now)
{
    struct outbox_entry **pp = &ob->head;

    while (*pp) {
        struct outbox_entry *e = *pp;
        if (e->kind == OB_ERROR && e->expires <= now) {
            *pp = e->next;
            entry_free(e);
            continue;
        }
        if (strcmp(e->name, name) == 0)
            return e;
        pp = &e->next;
    }
    return NULL;
}

struct outbox_entry *fs_outbox_get(struct fs_outbox *ob, uint64_t serial)
{
    for (struct outbox_entry *e = ob->head; e; e = e->next)
        if (e->serial == serial)
            return e;
    return NULL;
}

/* Appends, so the listing stays in creation (= serial = offset) order. */
struct outbox_entry *fs_outbox_add(struct fs_outbox *ob, enum outbox_kind kind, const char *name)
{
    struct outbox_entry *e = calloc(1, sizeof *e), **pp = &ob->head;

    if (!e)
        return NULL;
    e->serial = ob->next_serial++;
    e->kind = kind;
    e->fd = -1;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->mtime = fs_now();
    while (*pp)
        pp = &(*pp)->next;
    *pp = e;
    return e;
}

void fs_outbox_remove(struct fs_outbox *ob, struct outbox_entry *e)
{
    for (struct outbox_entry **pp = &ob->head; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            entry_free(e);
            return;
        }
}

struct draft_doc *fs_draft_doc_find(struct outbox_entry *e, const char *name)
{
    for (size_t i = 0; i < e->ndocs; i++)
        if (strcmp(e->docs[i].name, name) == 0)
            return &e->docs[i];
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
int fs_draft_doc_add(struct outbox_entry *e, const char *name, int fd, struct draft_doc **out)
{
    struct draft_doc *v = realloc(e->docs, (e->ndocs + 1) * sizeof *v);
    size_t at = 0;

    if (!v)
        return -ENOMEM;
    e->docs = v;
    while (at < e->ndocs && strcmp(v[at].name, name) < 0)
        at++;
    memmove(&v[at + 1], &v[at], (e->ndocs - at) * sizeof *v);
    v[at].serial = e->next_doc++;
    snprintf(v[at].name, sizeof v[at].name, "%s", name);
    v[at].fd = fd;
    e->ndocs++;
    *out = &v[at];
    return 0;
}

void fs_draft_doc_remove(struct outbox_entry *e, struct draft_doc *d)
{
    size_t at = (size_t)(d - e->docs);

    close(d->fd);
    memmove(&e->docs[at], &e->docs[at + 1], (e->ndocs - at - 1) * sizeof *d);
    e->ndocs--;
}
