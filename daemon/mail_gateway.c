/*
 * mail_gateway.c - the parts of faxfs-mail, the mail-to-fax gateway
 * (mail_gateway.h). MIME is read with GMime only.
 */
#include "daemon/mail_gateway.h"

#include "daemon/mail_message.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *why, size_t len, int err, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return err;
}

int mailgw_number(const char *rcpt, char *out, size_t len, char *why, size_t whylen)
{
    const char *at = rcpt ? strrchr(rcpt, '@') : NULL;
    size_t n = at ? (size_t)(at - rcpt) : (rcpt ? strlen(rcpt) : 0);
    int digits = 0;

    if (!rcpt || n == 0 || n >= len || n >= MAILGW_NUMBER_MAX || (at && at[1] == '\0'))
        return fail(why, whylen, -EINVAL, "the recipient is not NUMBER@DOMAIN");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)rcpt[i];
        if (isdigit(c))
            digits++;
        else if (c == '+' && i == 0)
            continue;
        else if (!(strchr("-.,", c) && i > 0 && i + 1 < n))
            return fail(why, whylen, -EINVAL, "the recipient's local part is not a fax number (digits, a leading +, - . , between them)");
    }
    if (digits == 0)
        return fail(why, whylen, -EINVAL, "the recipient's local part has no digits");
    memcpy(out, rcpt, n);
    out[n] = '\0';
    return 0;
}

int mailgw_map_lookup(const char *path, int require_root_owned, const char *sender, char *user,
                      size_t userlen, char *why, size_t whylen)
{
    if (!sender || !mail_address_ok(sender) || !strchr(sender, '@'))
        return fail(why, whylen, -EINVAL, "the sender is not a plain address (local@domain)");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        /* -EIO, whatever the cause: -ENOENT means an unknown sender. */
        return fail(why, whylen, -EIO, "cannot open the sender map %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(why, whylen, -EPERM, "the sender map %s is not a regular file", path);
    }
    if (require_root_owned && (st.st_uid != 0 || (st.st_mode & 022))) {
        close(fd);
        return fail(why, whylen, -EPERM, "the sender map %s must be owned by root and writable by root only", path);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return fail(why, whylen, -ENOMEM, "out of memory");
    }
    const char *domain = strchr(sender, '@');
    char line[1024], best_domain[MAILGW_USER_MAX] = "";
    int found = 0, lines = 0;
    while (fgets(line, sizeof line, f) && !found) {
        if (++lines > 100000)
            break;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *addr = strtok_r(line, " \t\r\n", &save);
        char *who = addr ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        if (!addr || !who || strlen(who) >= sizeof best_domain || strlen(who) >= userlen)
            continue;
        if (strcasecmp(addr, sender) == 0) {
            snprintf(user, userlen, "%s", who);
            found = 1;
        } else if (addr[0] == '@' && strcasecmp(addr, domain) == 0 && !best_domain[0]) {
            snprintf(best_domain, sizeof best_domain, "%s", who);
        }
    }
    fclose(f);
    if (!found && best_domain[0]) {
        snprintf(user, userlen, "%s", best_domain);
        found = 1;
    }
    if (!found)
        return fail(why, whylen, -ENOENT, "the sender %s may not send faxes by mail (not in the sender map)", sender);
    return 0;
}

/* ---- MIME ---- */

struct accepted {
    const char *ext;
    const char *type;
};
static const struct accepted accepted_types[] = {
    {"pdf", "application/pdf"}, {"ps", "application/postscript"}, {"tif", "image/tiff"},
    {"png", "image/png"},       {"jpg", "image/jpeg"},
};

static const struct accepted *by_magic(const unsigned char *b, size_t n)
{
    if (n >= 5 && memcmp(b, "%PDF-", 5) == 0)
        return &accepted_types[0];
    if (n >= 2 && memcmp(b, "%!", 2) == 0)
        return &accepted_types[1];
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0))
        return &accepted_types[2];
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return &accepted_types[3];
    if (n >= 3 && memcmp(b, "\xff\xd8\xff", 3) == 0)
        return &accepted_types[4];
    return NULL;
}

/* The declared type agrees with the magic: the same type, or a generic one. */
static int type_agrees(const char *declared, const struct accepted *a)
{
    if (strcasecmp(declared, a->type) == 0 || strcasecmp(declared, "application/octet-stream") == 0 ||
        strcasecmp(declared, "application/binary") == 0)
        return 1;
    if (a == &accepted_types[2] && strcasecmp(declared, "image/tif") == 0)
        return 1;
    if (a == &accepted_types[4] && strcasecmp(declared, "image/jpg") == 0)
        return 1;
    if (a == &accepted_types[0] && strcasecmp(declared, "application/x-pdf") == 0)
        return 1;
    return 0;
}

/* Control characters but LF and tab become spaces; CR goes; cut at a
 * character boundary below max bytes (the text is UTF-8 from GMime). */
static void clean_text(char *dst, size_t max, const char *src, int keep_lines)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && o < max; p++) {
        unsigned char c = *p;
        if (c == '\r')
            continue;
        if (c < 0x20 || c == 0x7f)
            c = (keep_lines && (c == '\n' || c == '\t')) ? c : ' ';
        dst[o++] = (char)c;
    }
    /* Do not end inside a UTF-8 sequence. */
    if (o == max) {
        size_t k = o;
        while (k > 0 && ((unsigned char)dst[k - 1] & 0xC0) == 0x80)
            k--;
        if (k > 0 && ((unsigned char)dst[k - 1] & 0x80)) {
            unsigned char lead = (unsigned char)dst[k - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (o - (k - 1) < need)
                o = k - 1;
        }
    }
    dst[o] = '\0';
    /* Trailing blanks and blank lines go. */
    while (o > 0 && strchr(" \t\n", dst[o - 1]))
        dst[--o] = '\0';
}

/* The visible text of HTML: tags and comments dropped, a few entities. */
static char *html_text(const char *html)
{
    size_t n = strlen(html);
    char *out = malloc(n + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        if (html[i] == '<') {
            int block = strncasecmp(html + i, "<br", 3) == 0 || strncasecmp(html + i, "<p", 2) == 0 ||
                        strncasecmp(html + i, "</p", 3) == 0 || strncasecmp(html + i, "<div", 4) == 0;
            const char *skip_to = ">";
            if (strncmp(html + i, "<!--", 4) == 0)
                skip_to = "-->";
            else if (strncasecmp(html + i, "<style", 6) == 0)
                skip_to = "</style>";
            else if (strncasecmp(html + i, "<script", 7) == 0)
                skip_to = "</script>";
            const char *end = strcasestr(html + i + 1, skip_to);
            i = end ? (size_t)(end - html) + strlen(skip_to) : n;
            if (block && o > 0 && out[o - 1] != '\n')
                out[o++] = '\n';
            continue;
        }
        static const struct { const char *ent; char c; } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&nbsp;", ' '}, {"&#39;", '\''}};
        int done = 0;
        if (html[i] == '&')
            for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++) {
                size_t l = strlen(ents[k].ent);
                if (strncasecmp(html + i, ents[k].ent, l) == 0) {
                    out[o++] = ents[k].c;
                    i += l;
                    done = 1;
                    break;
                }
            }
        if (!done)
            out[o++] = html[i++];
    }
    out[o] = '\0';
    return out;
}

struct walk {
    struct mailgw_msg *m;
    size_t max_docs;
    int err;
    char *why;
    size_t whylen;
    char *html; /* the first text/html text, if no text/plain comes */
    int have_plain;
};

static int decoded_memfd(GMimePart *part, size_t *size)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (!w)
        return -EBADMSG;
    int fd = memfd_create("faxfs-mail-doc", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    GMimeStream *s = g_mime_stream_fs_new(fd);
    g_mime_stream_fs_set_owner(GMIME_STREAM_FS(s), FALSE);
    ssize_t n = g_mime_data_wrapper_write_to_stream(w, s);
    g_mime_stream_flush(s);
    g_object_unref(s);
    if (n < 0) {
        close(fd);
        return -EBADMSG;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *size = (size_t)st.st_size;
    return fd;
}

static void visit(GMimeObject *parent, GMimeObject *obj, gpointer data)
{
    struct walk *w = data;
    (void)parent;
    if (w->err || !GMIME_IS_PART(obj))
        return;
    GMimePart *part = GMIME_PART(obj);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *disp = g_mime_object_get_disposition(obj);
    int attachment = disp && strcasecmp(disp, "attachment") == 0;
    char *type = ct ? g_mime_content_type_get_mime_type(ct) : g_strdup("text/plain");

    if (GMIME_IS_TEXT_PART(obj) && !attachment &&
        (strcasecmp(type, "text/plain") == 0 || strcasecmp(type, "text/html") == 0)) {
        char *text = g_mime_text_part_get_text(GMIME_TEXT_PART(obj));
        if (text && strcasecmp(type, "text/plain") == 0 && !w->have_plain) {
            clean_text(w->m->cover, MAILGW_COVER_MAX, text, 1);
            w->have_plain = 1;
        } else if (text && strcasecmp(type, "text/html") == 0 && !w->html) {
            w->html = text;
            text = NULL;
        }
        g_free(text);
        g_free(type);
        return;
    }
    /* An inline part with a Content-ID is a picture of an HTML body, not a
     * document. */
    if (!attachment && g_mime_object_get_content_id(obj)) {
        g_free(type);
        return;
    }
    size_t size = 0;
    int fd = decoded_memfd(part, &size);
    if (fd < 0) {
        w->err = fail(w->why, w->whylen, -EBADMSG, "an attachment cannot be decoded");
        g_free(type);
        return;
    }
    unsigned char head[8];
    ssize_t got = pread(fd, head, sizeof head, 0);
    const struct accepted *a = got > 0 ? by_magic(head, (size_t)got) : NULL;
    if (!a || !type_agrees(type, a)) {
        close(fd);
        g_free(type);
        return;
    }
    g_free(type);
    if (w->m->ndocs >= w->max_docs) {
        close(fd);
        w->err = fail(w->why, w->whylen, -E2BIG, "more than %zu attachments (--max-attachments)", w->max_docs);
        return;
    }
    w->m->docs[w->m->ndocs++] = (struct mailgw_doc){.fd = fd, .ext = a->ext, .size = size};
}

void mailgw_msg_free(struct mailgw_msg *m)
{
    for (size_t i = 0; i < m->ndocs; i++)
        close(m->docs[i].fd);
    m->ndocs = 0;
}

int mailgw_parse(int fd, size_t max_docs, struct mailgw_msg *m, char *why, size_t whylen)
{
    static int inited;
    if (!inited) {
        g_mime_init();
        inited = 1;
    }
    memset(m, 0, sizeof *m);
    if (max_docs > MAILGW_DOCS_LIMIT)
        max_docs = MAILGW_DOCS_LIMIT;
    int dfd = dup(fd);
    if (dfd < 0 || lseek(dfd, 0, SEEK_SET) != 0) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return fail(why, whylen, -e, "cannot read the message: %s", strerror(e));
    }
    GMimeStream *stream = g_mime_stream_fs_new(dfd); /* owns dfd */
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(stream);
    if (!msg || !g_mime_message_get_mime_part(msg)) {
        if (msg)
            g_object_unref(msg);
        return fail(why, whylen, -EBADMSG, "the message is not readable MIME");
    }
    const char *subject = g_mime_message_get_subject(msg); /* decoded, UTF-8 */
    if (subject)
        clean_text(m->name, MAILGW_NAME_MAX, subject, 0);
    struct walk w = {.m = m, .max_docs = max_docs, .why = why, .whylen = whylen};
    GMimeObject *top = g_mime_message_get_mime_part(msg);
    if (GMIME_IS_MULTIPART(top))
        g_mime_multipart_foreach(GMIME_MULTIPART(top), visit, &w);
    else
        visit(NULL, top, &w);
    if (!w.err && !w.have_plain && w.html) {
        char *t = html_text(w.html);
        if (t)
            clean_text(m->cover, MAILGW_COVER_MAX, t, 1);
        free(t);
    }
    g_free(w.html);
    g_object_unref(msg);
    if (w.err) {
        mailgw_msg_free(m);
        return w.err;
    }
    if (m->ndocs == 0)
        return fail(why, whylen, -ENOMSG, "no attachment of a type faxfs can send (PDF, PostScript, TIFF, PNG, JPEG)");
    return 0;
}

/* ---- submission through the mount ---- */

static int write_file(int dirfd, const char *name, const char *buf, size_t n)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    while (n > 0) {
        ssize_t k = write(fd, buf, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int e = k < 0 ? errno : EIO;
            close(fd);
            return -e;
        }
        buf += k;
        n -= (size_t)k;
    }
    if (close(fd) != 0)
        return -errno;
    return 0;
}

static int copy_doc(int dirfd, const char *name, int src)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t k = pread(src, buf, sizeof buf, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (k == 0)
            break;
        off += k;
        for (ssize_t done = 0; done < k;) {
            ssize_t w = write(fd, buf + done, (size_t)(k - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                int e = w < 0 ? errno : EIO;
                close(fd);
                return -e;
            }
            done += w;
        }
    }
    if (close(fd) != 0)
        return -errno;
    return 0;
}

static void remove_draft(int outbox, const char *draft)
{
    int d = openat(outbox, draft, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
        static const char *const fields[] = {"recipient_number", "recipient_name", "cover", "comment"};
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            unlinkat(d, fields[i], 0);
        for (size_t i = 1; i <= MAILGW_DOCS_LIMIT; i++)
            for (size_t k = 0; k < sizeof accepted_types / sizeof accepted_types[0]; k++) {
                char name[32];
                snprintf(name, sizeof name, "%02zu.%s", i, accepted_types[k].ext);
                unlinkat(d, name, 0);
            }
        close(d);
    }
    unlinkat(outbox, draft, AT_REMOVEDIR);
}

/* The recipients file of a broadcast draft: one line per number, the
 * mail's recipient name after a tab (the same for all). */
static int write_recipients(int d, const char *const *numbers, size_t n, const char *name)
{
    size_t cap = n * (MAILGW_NUMBER_MAX + MAILGW_NAME_MAX + 3) + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s%s\n", numbers[i], name[0] ? "\t" : "", name);
    int rc = write_file(d, "recipients", buf, len);
    free(buf);
    return rc;
}

int mailgw_submit(const char *mount, const char *draft, const char *const *numbers, size_t nnumbers,
                  const struct mailgw_msg *m, enum mailgw_stage *stage, char *why, size_t whylen)
{
    char path[4096], to[MAILGW_NUMBER_MAX + 32];
    const char *number = to;
    if (nnumbers == 1)
        snprintf(to, sizeof to, "%s", numbers[0]);
    else
        snprintf(to, sizeof to, "%zu numbers", nnumbers);
    *stage = MAILGW_AT_DRAFT;
    snprintf(path, sizeof path, "%s/outbox", mount);
    int outbox = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (outbox < 0) {
        int e = errno;
        return fail(why, whylen, -e, "%s: %s", path, strerror(e));
    }
    if (mkdirat(outbox, draft, 0700) != 0) {
        int e = errno;
        close(outbox);
        return fail(why, whylen, -e, "mkdir %s/%s: %s", path, draft, strerror(e));
    }
    int d = openat(outbox, draft, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = d < 0 ? -errno : 0;
    const char *what = "the draft";
    if (rc == 0 && nnumbers > 1) {
        *stage = MAILGW_AT_NUMBER;
        what = "recipients";
        rc = write_recipients(d, numbers, nnumbers, m->name);
    } else if (rc == 0) {
        *stage = MAILGW_AT_NUMBER;
        what = "recipient_number";
        char line[MAILGW_NUMBER_MAX + 2];
        int n = snprintf(line, sizeof line, "%s\n", numbers[0]);
        rc = write_file(d, "recipient_number", line, (size_t)n);
    }
    if (rc == 0 && nnumbers == 1 && m->name[0]) {
        *stage = MAILGW_AT_DRAFT;
        what = "recipient_name";
        char line[MAILGW_NAME_MAX + 2];
        int n = snprintf(line, sizeof line, "%s\n", m->name);
        rc = write_file(d, "recipient_name", line, (size_t)n);
    }
    if (rc == 0 && m->cover[0]) {
        *stage = MAILGW_AT_DRAFT;
        what = "cover";
        rc = write_file(d, "cover", "yes\n", 4);
        if (rc == 0) {
            what = "comment";
            rc = write_file(d, "comment", m->cover, strlen(m->cover));
        }
    }
    char name[32];
    for (size_t i = 0; rc == 0 && i < m->ndocs; i++) {
        *stage = MAILGW_AT_DOCUMENT;
        snprintf(name, sizeof name, "%02zu.%s", i + 1, m->docs[i].ext);
        what = name;
        rc = copy_doc(d, name, m->docs[i].fd);
    }
    if (rc == 0) {
        *stage = MAILGW_AT_SUBMIT;
        what = "submit";
        rc = write_file(d, "ctl", "submit\n", 7);
        if (rc != 0) {
            char reason[512] = "";
            int efd = openat(d, "error", O_RDONLY | O_CLOEXEC);
            if (efd >= 0) {
                ssize_t k = read(efd, reason, sizeof reason - 1);
                reason[k > 0 ? k : 0] = '\0';
                close(efd);
                reason[strcspn(reason, "\n")] = '\0';
            }
            if (strncmp(reason, "recipients line ", 16) == 0)
                *stage = MAILGW_AT_NUMBER; /* one of the numbers, as a single fax's number would be */
            fail(why, whylen, rc, "the fax to %s was refused: %s%s%s", number, strerror(-rc),
                 reason[0] ? ": " : "", reason);
        }
    } else {
        fail(why, whylen, rc, "%s of the fax to %s: %s", what, number, strerror(-rc));
    }
    if (d >= 0)
        close(d);
    if (rc != 0)
        remove_draft(outbox, draft);
    close(outbox);
    return rc;
}

int mailgw_exit_code(int err, enum mailgw_stage stage)
{
    switch (-err) {
    case 0:
        return MAILGW_EX_OK;
    case EACCES:
    case EPERM:
        return MAILGW_EX_NOPERM;
    case EAGAIN:
    case ENOTCONN:
    case ENOENT:
    case ENXIO:
    case ENODEV:
    case ESHUTDOWN:
    case ECONNABORTED:
    case EDQUOT:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case EINTR:
    case EIO:
    case ENOMEM:
        return MAILGW_EX_TEMPFAIL;
    case EINVAL:
        if (stage == MAILGW_AT_NUMBER)
            return MAILGW_EX_NOUSER;
        return stage == MAILGW_AT_DOCUMENT || stage == MAILGW_AT_SUBMIT ? MAILGW_EX_DATAERR
                                                                          : MAILGW_EX_UNAVAILABLE;
    case EFBIG:
        return MAILGW_EX_DATAERR;
    default:
        return MAILGW_EX_UNAVAILABLE;
    }
}
