/*
 * caller.c - who is asking: the uid, gid and groups of a FUSE request, as
 * the queue's caller, and whether that caller may read a job's private
 * files (pages, previews, log).
 */
#include "fs/internal.h"

void fs_caller_of(fuse_req_t req, struct fs_caller *out)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    int n = fuse_req_getgroups(req, FS_CALLER_GROUPS, out->groups);

    out->uid = ctx->uid;
    out->gid = ctx->gid;
    out->ngroups = n < 0 ? 0 : n > FS_CALLER_GROUPS ? FS_CALLER_GROUPS : n;
}

void fs_caller_to_queue(const struct fs_caller *c, struct queue_caller *out)
{
    out->uid = c->uid;
    out->gid = c->gid;
    out->groups = c->groups;
    out->ngroups = c->ngroups;
}

static bool in_group(const struct fs_caller *who, gid_t gid)
{
    if (who->gid == gid)
        return true;
    for (int i = 0; i < who->ngroups; i++)
        if (who->groups[i] == gid)
            return true;
    return false;
}

/* Pages and log: the owner and administrators (the queue decides); a
 * received fax also to its group, as its 0640 mode says. */
bool fs_may_read_private(struct fs *fs, fuse_req_t req, const struct job *job)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct queue_caller qc = { .uid = ctx->uid, .gid = ctx->gid };
    struct fs_caller who;

    /* The owner and root need no group list, which costs a read of
     * /proc for every request that asks for it. */
    if (queue_caller_owns(fs->q, &qc, job))
        return true;
    fs_caller_of(req, &who);
    fs_caller_to_queue(&who, &qc);
    if (queue_caller_owns(fs->q, &qc, job))
        return true;
    return job->type == JOB_RECEIVE && in_group(&who, job->owner_gid);
}
