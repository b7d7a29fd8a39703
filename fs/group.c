/*
 * group.c - MOUNT/groups/ID/: a broadcast group's summary, its jobs and
 * recipients, rendered whole at open (a group can have thousands of jobs,
 * more than a value file holds), and `rm -r` cancelling its unfinished jobs.
 */
#include "fs/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/group.h"

static const char *const group_files[] = { NULL, "summary", "jobs", "recipients" };
#define NGROUP_FILES ((int)(sizeof group_files / sizeof group_files[0]) - 1)

int fs_group_file_count(void) { return NGROUP_FILES; }
const char *fs_group_file_name(int node) { return node >= 1 && node <= NGROUP_FILES ? group_files[node] : NULL; }

int fs_group_node_by_name(const char *name)
{
    for (int i = 1; i <= NGROUP_FILES; i++)
        if (strcmp(group_files[i], name) == 0)
            return i;
    return 0;
}

int fs_group_owner(struct fs *fs, uint64_t group, uid_t *uid)
{
    return queue_group_owner(fs->q, group, uid);
}

struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 256;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

int fs_group_render(struct fs *fs, uint64_t group, int node, char **out, size_t *len)
{
    struct queue_group_member *m;
    struct sbuf b = { 0 };
    size_t n;
    int r = queue_group_members(fs->q, group, &m, &n);

    if (r != 0)
        return r;
    switch (node) {
    case 1: { /* summary: counts by status, then total */
        size_t count[JOB_STATUS_COUNT] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[m[i].status]++;
        for (int s = 0; s < JOB_STATUS_COUNT; s++)
            if (count[s])
                sb_printf(&b, "%s: %zu\n", job_status_name((enum job_status)s), count[s]);
        sb_printf(&b, "total: %zu\n", n);
        break;
    }
    case 2: /* jobs: id, number, status */
        for (size_t i = 0; i < n; i++)
            sb_printf(&b, "%" PRIu64 "\t%s\t%s\n", m[i].id, m[i].number, job_status_name(m[i].status));
        break;
    case 3: /* recipients: as submitted, number and name */
        for (size_t i = 0; i < n; i++)
            sb_printf(&b, "%s%s%s\n", m[i].number, m[i].name[0] ? "\t" : "", m[i].name);
        break;
    default:
        free(m);
        return -ENOENT;
    }
    free(m);
    if (b.failed) {
        free(b.p);
        return -ENOMEM;
    }
    if (b.p == NULL && !(b.p = calloc(1, 1))) /* never NULL for an empty file */
        return -ENOMEM;
    *out = b.p;
    *len = b.len;
    return 0;
}

int fs_group_cancel(struct fs *fs, uint64_t group, const struct queue_caller *qc, char *why, size_t whylen)
{
    struct queue_group_member *m;
    size_t n, canceled = 0, mine = 0;
    bool admin = queue_caller_is_admin(fs->q, qc);
    int r = queue_group_members(fs->q, group, &m, &n);

    if (r != 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (!admin && m[i].owner_uid != qc->uid)
            continue;
        mine++;
        if (job_status_is_final(m[i].status))
            continue;
        char one[256];
        /* A job that finished meanwhile is no failure of the cancel. */
        if (queue_control(fs->q, qc, m[i].id, QOP_CANCEL, one, sizeof one) == 0)
            canceled++;
    }
    free(m);
    if (mine == 0) {
        snprintf(why, whylen, "broadcast group %" PRIu64 " is not yours: only its owner or an administrator may "
                 "cancel it", group);
        return -EPERM;
    }
    fprintf(stderr, "faxfs: groups/%" PRIu64 ": uid %lld canceled %zu unfinished job%s\n", group,
            (long long)qc->uid, canceled, canceled == 1 ? "" : "s");
    return 0;
}
