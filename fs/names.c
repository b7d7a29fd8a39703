/*
 * names.c - a small direct-mapped cache of uid -> user name in front of
 * getpwuid_r. Lossy by design: a collision only costs one more lookup.
 */
#include "fs/names.h"

#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define NAME_SLOTS 256

static struct name_slot {
    bool used;
    uid_t uid;
    int64_t expires;
    char name[64];
} slots[NAME_SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER; /* protects slots[] */

static void lookup(uid_t uid, char *out, size_t outlen)
{
    struct passwd pw, *res = NULL;
    char buf[1024];

    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
        snprintf(out, outlen, "%s", res->pw_name);
    else
        snprintf(out, outlen, "%lld", (long long)uid);
}

void fs_user_name(uid_t uid, char *out, size_t outlen)
{
    struct name_slot *s = &slots[uid % NAME_SLOTS];
    int64_t now = (int64_t)time(NULL);
    char name[64];

    pthread_mutex_lock(&slots_lock);
    bool hit = s->used && s->uid == uid && s->expires > now;
    if (hit)
        snprintf(out, outlen, "%s", s->name);
    pthread_mutex_unlock(&slots_lock);
    if (hit)
        return;
    /* Looked up without the lock: the database may be slow. */
    lookup(uid, name, sizeof name);
    pthread_mutex_lock(&slots_lock);
    s->used = true;
    s->uid = uid;
    s->expires = now + FS_NAME_TTL;
    snprintf(s->name, sizeof s->name, "%s", name);
    pthread_mutex_unlock(&slots_lock);
    snprintf(out, outlen, "%s", name);
}
