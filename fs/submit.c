/*
 * submit.c - turning outbox content into queue jobs: a plain upload at its
 * close, a draft on `submit` or a move into jobs/. The queue call happens
 * without the outbox lock (the entry is marked busy instead), and a refusal
 * leaves a readable reason: outbox/NAME.error for uploads, NAME/error for
 * drafts.
 */
#include "fs/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/names.h"
#include "fs/parse.h"
#include "fs/submit.h"

static void why_or_errno(char *why, size_t whylen, int err)
{
    if (why[0] == '\0')
        snprintf(why, whylen, "%s", strerror(-err));
}

/* Replaces any older NAME.error; the reason stays readable for a while. */
static void leave_error(struct fs *fs, const char *name, const char *why, uid_t uid)
{
    char ename[NAME_MAX + 1], esc[NAME_MAX * 4 + 1], why_esc[1024];

    if (snprintf(ename, sizeof ename, "%s.error", name) >= (int)sizeof ename)
        return;
    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *old = fs_outbox_find(&fs->outbox, ename, fs_now());
    if (old && old->kind == OB_ERROR)
        fs_outbox_remove(&fs->outbox, old);
    struct outbox_entry *e = old && old->kind != OB_ERROR ? NULL : fs_outbox_add(&fs->outbox, OB_ERROR, ename, uid);
    uint64_t serial = 0;
    if (e) {
        e->text = strdup(why);
        e->gid = fs->gid;
        e->expires = fs_now() + FS_ERROR_KEEP_SECONDS;
        serial = e->serial;
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (serial)
        fs_notify_outbox(fs, FS_EV_OUTBOX, serial, ename);
    fs_log_escape(name, esc, sizeof esc);
    fs_log_escape(why, why_esc, sizeof why_esc);
    fprintf(stderr, "faxfs: outbox/%s (uid %lld) refused: %s\n", esc, (long long)uid, why_esc);
}

void fs_forget_error(struct fs *fs, const char *name)
{
    char ename[NAME_MAX + 1];
    uint64_t serial = 0;

    if (snprintf(ename, sizeof ename, "%s.error", name) >= (int)sizeof ename)
        return;
    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *old = fs_outbox_find(&fs->outbox, ename, fs_now());
    if (old && old->kind == OB_ERROR) {
        serial = old->serial;
        fs_outbox_remove(&fs->outbox, old);
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (serial)
        fs_notify_outbox(fs, FS_EV_OUTBOX_GONE, serial, ename);
}

void fs_refuse_upload_name(struct fs *fs, const char *name, const char *why, uid_t uid)
{
    leave_error(fs, name, why, uid);
}

/* Unfinished jobs of uid: at the per-user limit, new submissions are
 * refused at create() or submit with EDQUOT. Root is exempt. */
int fs_check_jobs_limit(struct fs *fs, uid_t uid, const char *what, char *why, size_t whylen)
{
    int max = fs->outbox.limits.jobs_per_user;
    char user[64], esc[NAME_MAX * 4 + 1];

    if (uid == 0 || max <= 0 || queue_count_unfinished(fs->q, uid) < max)
        return 0;
    fs_user_name(uid, user, sizeof user);
    fs_log_escape(what, esc, sizeof esc);
    if (why)
        snprintf(why, whylen, "%s has %d unfinished jobs, the most allowed: wait for some to finish or cancel some", user,
                 max);
    fprintf(stderr, "faxfs: outbox/%s: %s (uid %lld) has %d unfinished jobs: refused with EDQUOT; "
                    "wait or cancel (limit: --max-jobs-per-user)\n", esc, user, (long long)uid, max);
    return -EDQUOT;
}

/* Too many submissions in progress: refused now, nothing created. */
static int submit_refused(uid_t uid, const char *name, int r, char *why, size_t whylen)
{
    char user[64], esc[NAME_MAX * 4 + 1];

    fs_user_name(uid, user, sizeof user);
    fs_log_escape(name, esc, sizeof esc);
    snprintf(why, whylen, "%d of your submissions (or %d in all) are being converted already: submit again when "
                          "they are done", FS_SUBMITS_PER_USER, FS_SUBMITS_TOTAL);
    fprintf(stderr, "faxfs: outbox/%s: %s (uid %lld): too many submissions in progress, refused with EAGAIN; "
                    "retry when they are done\n", esc, user, (long long)uid);
    return r;
}

int fs_submit_upload(struct fs *fs, uint64_t serial, bool even_empty, uint64_t *id_out)
{
    struct queue_request req;
    struct queue_caller qc;
    struct fs_caller who;
    char name[NAME_MAX + 1], why[256] = "";
    struct stat st;
    int fd;

    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, serial);
    if (!e || e->kind != OB_UPLOAD) { /* another close already submitted it */
        pthread_mutex_unlock(&fs->outbox.lock);
        return 0;
    }
    if (e->busy) {
        pthread_mutex_unlock(&fs->outbox.lock);
        return -EBUSY;
    }
    /* A shell redirect closes a dup before anything is written: wait for
     * the close that follows the data. */
    if (!even_empty && fstat(e->fd, &st) == 0 && st.st_size == 0) {
        pthread_mutex_unlock(&fs->outbox.lock);
        return 0;
    }
    fd = dup(e->fd);
    if (fd < 0) {
        pthread_mutex_unlock(&fs->outbox.lock);
        return -errno;
    }
    e->busy = true;
    who = e->caller;
    snprintf(name, sizeof name, "%s", e->name);
    int slot = fs_outbox_submit_begin(&fs->outbox, who.uid);
    pthread_mutex_unlock(&fs->outbox.lock);

    memset(&req, 0, sizeof req);
    int r = slot < 0 ? submit_refused(who.uid, name, slot, why, sizeof why)
                     : fs_outbox_typed_number(name, req.recipient_number, sizeof req.recipient_number, why, sizeof why);
    if (r == 0)
        r = fs_check_jobs_limit(fs, who.uid, name, why, sizeof why);
    if (r == 0) {
        lseek(fd, 0, SEEK_SET);
        fs_caller_to_queue(&who, &qc);
        r = queue_submit(fs->q, &qc, &req, &fd, 1, id_out, why, sizeof why);
    }
    close(fd);
    if (slot == 0) {
        pthread_mutex_lock(&fs->outbox.lock);
        fs_outbox_submit_end(&fs->outbox, who.uid);
        pthread_mutex_unlock(&fs->outbox.lock);
    }

    pthread_mutex_lock(&fs->outbox.lock);
    e = fs_outbox_get(&fs->outbox, serial);
    if (e)
        fs_outbox_remove(&fs->outbox, e);
    pthread_mutex_unlock(&fs->outbox.lock);
    fs_notify_outbox(fs, FS_EV_OUTBOX_GONE, serial, name);
    if (r < 0) {
        why_or_errno(why, sizeof why, r);
        leave_error(fs, name, why, who.uid);
        return r;
    }
    fs_forget_error(fs, name);
    return 0;
}

/* The recipients file of a draft, read whole (it is bounded by the
 * per-file limit of draft documents). */
static int read_recipients(int fd, char **out, size_t *len)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return -errno;
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL)
        return -ENOMEM;
    ssize_t got = pread(fd, buf, (size_t)st.st_size, 0);
    if (got < 0) {
        int r = -errno;
        free(buf);
        return r;
    }
    buf[got] = '\0';
    *out = buf;
    *len = (size_t)got;
    return 0;
}

/* A draft with a recipients file: one job per number, one group. The
 * recipients file is not a document. */
static int submit_broadcast(struct fs *fs, const struct fs_caller *owner, const struct queue_caller *qc,
                            const struct queue_request *req, const int *fds, size_t n, size_t rcpt_index,
                            const char *name, uint64_t *id_out, char *why, size_t whylen)
{
    struct queue_recipient *rcpt = NULL;
    size_t nrcpt = 0, ndocs = 0, len = 0;
    int *docs = calloc(n, sizeof *docs), bad_line = 0, r;
    char *text = NULL, user[64], esc[NAME_MAX * 4 + 1], why_esc[1024];

    if (docs == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (i != rcpt_index)
            docs[ndocs++] = fds[i];
    r = read_recipients(fds[rcpt_index], &text, &len);
    if (r == 0)
        r = queue_parse_recipients(text, len, (size_t)fs->outbox.limits.max_recipients, &rcpt, &nrcpt, &bad_line,
                                   why, whylen);
    int max = fs->outbox.limits.jobs_per_user;
    if (r == 0 && owner->uid != 0 && max > 0 && queue_count_unfinished(fs->q, owner->uid) + (long)nrcpt > max) {
        fs_user_name(owner->uid, user, sizeof user);
        fs_log_escape(name, esc, sizeof esc);
        snprintf(why, whylen, "%zu jobs would bring %s over %d unfinished jobs, the most allowed: wait for some to "
                 "finish, cancel some, or send to fewer numbers", nrcpt, user, max);
        fprintf(stderr, "faxfs: outbox/%s: broadcast of %zu jobs by %s (uid %lld) over the unfinished jobs limit, "
                        "refused with EDQUOT (limit: --max-jobs-per-user)\n", esc, nrcpt, user, (long long)owner->uid);
        r = -EDQUOT;
    }
    if (r == 0) {
        r = queue_submit_group(fs->q, qc, req, rcpt, nrcpt, docs, ndocs, id_out, why, whylen);
    } else if (bad_line > 0) {
        fs_log_escape(name, esc, sizeof esc);
        fs_log_escape(why, why_esc, sizeof why_esc);
        fprintf(stderr, "faxfs: outbox/%s: recipients line %d refused (uid %lld): %s\n", esc, bad_line,
                (long long)owner->uid, why_esc);
    }
    free(text);
    free(rcpt);
    free(docs);
    return r;
}

int fs_submit_draft(struct fs *fs, uint64_t serial, const struct fs_caller *who, uint64_t *id_out)
{
    struct queue_request req;
    struct queue_caller qc;
    struct fs_caller owner;
    char name[NAME_MAX + 1], why[256] = "";
    int *fds = NULL, r = 0;
    size_t n = 0;
    ssize_t rcpt_index = -1;

    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, serial);
    if (!e || e->kind != OB_DRAFT)
        r = -ENOENT;
    else if (e->busy)
        r = -EBUSY;
    else if (!fs_outbox_may_change(e->uid, who->uid))
        r = -EPERM;
    else if (e->ndocs == 0) {
        r = -EINVAL;
        free(e->text);
        e->text = strdup("no documents: copy one or more documents (PDF, PostScript, TIFF, PNG or JPEG) into the draft before submitting");
    } else if (!(fds = calloc(e->ndocs, sizeof *fds))) {
        r = -ENOMEM;
    }
    for (size_t i = 0; r == 0 && i < e->ndocs; i++, n++)
        if ((fds[i] = e->docs[i].token[0] ? queue_draft_file_open(fs->q, e->docs[i].token) : dup(e->docs[i].fd)) < 0)
            r = e->docs[i].token[0] ? fds[i] : -errno;
        else if (strcmp(e->docs[i].name, FS_RECIPIENTS_FILE) == 0)
            rcpt_index = (ssize_t)i;
    int slot = -1;
    if (r == 0) {
        e->busy = true;
        req = e->req;
        owner = e->caller;
        snprintf(name, sizeof name, "%s", e->name);
        slot = fs_outbox_submit_begin(&fs->outbox, owner.uid);
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        free(fds);
        fs_notify_outbox(fs, FS_EV_OUTBOX, serial, NULL);
        return r;
    }

    for (size_t i = 0; i < n; i++)
        lseek(fds[i], 0, SEEK_SET);
    fs_caller_to_queue(&owner, &qc);
    r = slot < 0 ? submit_refused(owner.uid, name, slot, why, sizeof why)
                 : fs_check_jobs_limit(fs, owner.uid, name, why, sizeof why);
    if (r == 0 && rcpt_index >= 0)
        r = submit_broadcast(fs, &owner, &qc, &req, fds, n, (size_t)rcpt_index, name, id_out, why, sizeof why);
    else if (r == 0)
        r = queue_submit(fs->q, &qc, &req, fds, n, id_out, why, sizeof why);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    free(fds);

    pthread_mutex_lock(&fs->outbox.lock);
    if (slot == 0)
        fs_outbox_submit_end(&fs->outbox, owner.uid);
    e = fs_outbox_get(&fs->outbox, serial);
    if (e && r == 0) {
        fs_outbox_remove(&fs->outbox, e);
    } else if (e) {
        e->busy = false;
        why_or_errno(why, sizeof why, r);
        free(e->text);
        e->text = strdup(why);
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    fs_notify_outbox(fs, r == 0 ? FS_EV_OUTBOX_GONE : FS_EV_OUTBOX, serial, name);
    if (r < 0) {
        char esc[NAME_MAX * 4 + 1], why_esc[1024];
        fs_log_escape(name, esc, sizeof esc);
        fs_log_escape(why, why_esc, sizeof why_esc);
        fprintf(stderr, "faxfs: outbox/%s (uid %lld) refused: %s\n", esc, (long long)owner.uid, why_esc);
    }
    return r;
}
