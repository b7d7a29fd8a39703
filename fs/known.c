/*
 * known.c - which inodes the kernel may hold.
 * Every inode the kernel learns comes with an entry reply (fill_entry:
 * lookup, readdirplus, create, mkdir), which notes it here before the
 * reply is built. The notifier invalidates only noted inodes: a file
 * nobody looked up costs no FUSE notification (each one is a write to
 * /dev/fuse, answered ENOENT for an inode the kernel does not hold): a
 * job's 40 files, a modem's files at every status change of its call.
 * One entry per object (area and id) holds a bit per node 0..62 and one
 * bit for every node above. An object is dropped when it is gone for
 * good (a job removed); modems, lines and the fixed files are few and
 * stay. If the table cannot grow, every
 * inode counts as known: more notifications, never a stale cache.
 */
#include "fs/internal.h"

#include <stdlib.h>

static size_t slot_of(uint64_t id, size_t cap)
{
    return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (cap - 1);
}

/* Broadcast groups and outbox entries are not tracked (not every way
 * they go away is announced, so their entries could not be dropped), nor
 * the root, which the kernel always holds. */
static bool tracked(const struct fs_ino *in)
{
    return in->area != AREA_GROUPS && in->area != AREA_OUTBOX && !(in->area == AREA_TOP && in->node == TOP_ROOT);
}

/* The table's key of an object: never 0. */
static uint64_t key_of(enum fs_area a, uint64_t id)
{
    return ((uint64_t)a + 1) << INO_ID_BITS | id;
}

static uint64_t bit_of(uint32_t node)
{
    return UINT64_C(1) << (node < 63 ? node : 63);
}

static bool grow(struct fs_known *k)
{
    size_t cap = k->cap ? k->cap * 2 : 1024;
    struct fs_known_slot *v = calloc(cap, sizeof *v);

    if (!v)
        return false;
    for (size_t i = 0; i < k->cap; i++) {
        if (k->slots[i].id == 0)
            continue;
        size_t j = slot_of(k->slots[i].id, cap);
        while (v[j].id != 0)
            j = (j + 1) & (cap - 1);
        v[j] = k->slots[i];
    }
    free(k->slots);
    k->slots = v;
    k->cap = cap;
    return true;
}

void fs_known_note(struct fs *fs, uint64_t ino)
{
    struct fs_known *k = &fs->known;
    struct fs_ino in;

    if (!fs_ino_split(ino, &in) || !tracked(&in))
        return;
    uint64_t key = key_of(in.area, in.id);
    pthread_mutex_lock(&k->lock);
    if (!k->all && (k->n + 1) * 2 > k->cap && !grow(k))
        k->all = true;
    if (!k->all) {
        size_t j = slot_of(key, k->cap);
        while (k->slots[j].id != 0 && k->slots[j].id != key)
            j = (j + 1) & (k->cap - 1);
        if (k->slots[j].id == 0) {
            k->slots[j].id = key;
            k->n++;
        }
        k->slots[j].nodes |= bit_of(in.node);
    }
    pthread_mutex_unlock(&k->lock);
}

bool fs_known_has(struct fs *fs, uint64_t ino)
{
    struct fs_known *k = &fs->known;
    struct fs_ino in;
    bool r = false;

    if (!fs_ino_split(ino, &in) || !tracked(&in))
        return true;
    uint64_t key = key_of(in.area, in.id);
    pthread_mutex_lock(&k->lock);
    if (k->all) {
        r = true;
    } else if (k->cap > 0) {
        size_t j = slot_of(key, k->cap);
        while (k->slots[j].id != 0 && k->slots[j].id != key)
            j = (j + 1) & (k->cap - 1);
        r = k->slots[j].id == key && (k->slots[j].nodes & bit_of(in.node));
    }
    pthread_mutex_unlock(&k->lock);
    return r;
}

void fs_known_drop(struct fs *fs, enum fs_area area, uint64_t id)
{
    struct fs_known *k = &fs->known;

    id = key_of(area, id);
    pthread_mutex_lock(&k->lock);
    if (k->cap > 0) {
        size_t j = slot_of(id, k->cap);
        while (k->slots[j].id != 0 && k->slots[j].id != id)
            j = (j + 1) & (k->cap - 1);
        if (k->slots[j].id == id) {
            /* Linear probing: move later entries of the run back into the hole. */
            k->slots[j].id = 0;
            k->slots[j].nodes = 0;
            k->n--;
            for (size_t i = (j + 1) & (k->cap - 1); k->slots[i].id != 0; i = (i + 1) & (k->cap - 1)) {
                size_t home = slot_of(k->slots[i].id, k->cap);
                /* The entry at i may fill the hole at j if its home is not in (j, i]. */
                bool movable = j <= i ? (home <= j || home > i) : (home <= j && home > i);
                if (movable) {
                    k->slots[j] = k->slots[i];
                    k->slots[i].id = 0;
                    k->slots[i].nodes = 0;
                    j = i;
                }
            }
        }
    }
    pthread_mutex_unlock(&k->lock);
}

void fs_known_init(struct fs_known *k)
{
    pthread_mutex_init(&k->lock, NULL);
    k->slots = NULL;
    k->cap = k->n = 0;
    k->all = false;
}

void fs_known_free(struct fs_known *k)
{
    free(k->slots);
    k->slots = NULL;
    k->cap = k->n = 0;
    pthread_mutex_destroy(&k->lock);
}
