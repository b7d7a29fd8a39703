/*
 * mail_message.c - builds faxfs's mail with GMime 3. Everything is checked
 * and cleaned before GMime sees it: addresses and the Message-ID must be
 * plain (refused otherwise, nothing written); text that may come from
 * outside is made valid UTF-8, its control characters become spaces and
 * it is cut to MAIL_HEADER_VALUE_MAX, then GMime encodes and folds it.
 */
#include "daemon/mail_message.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmime/gmime.h>

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

/* GMime's tables are set up once per process and live as long as it.
 * Text that is not ASCII is always sent as UTF-8: left to itself GMime
 * picks the smallest charset that fits (iso-8859-1 for "Zürich"). */
static void gmime_init_once(void)
{
    g_mime_init();
}

static void param_utf8(GMimeParamList *list, const char *name)
{
    GMimeParam *p = list ? g_mime_param_list_get_parameter(list, name) : NULL;
    if (p)
        g_mime_param_set_charset(p, "UTF-8");
}

static int fail(char *why, size_t whylen, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t whylen, int err, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* RFC 5322 dot-atom of n bytes: atext runs separated by single dots. */
static int dot_atom(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' ? s[i + 1] == '.' : !(g_ascii_isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c)))
            return 0;
    }
    return 1;
}

/* local@domain (or local alone when allow_bare), both dot-atoms. */
static int addr_spec_ok(const char *s, size_t n, int allow_bare)
{
    const char *at = memchr(s, '@', n);
    if (!at)
        return allow_bare && dot_atom(s, n);
    size_t local = (size_t)(at - s);
    return dot_atom(s, local) && dot_atom(at + 1, n - local - 1);
}

/* A domain with an IDN label (xn--...) must be one that mail readers
 * turn back into the same ASCII: GMime shows such a domain decoded, and
 * a label that does not decode cleanly would read as another domain. */
static int idn_domain_ok(const char *addr, const char *domain)
{
    int idn = g_ascii_strncasecmp(domain, "xn--", 4) == 0;
    for (const char *p = domain; !idn && (p = strchr(p, '.')) != NULL; p++)
        idn = g_ascii_strncasecmp(p + 1, "xn--", 4) == 0;
    if (!idn)
        return 1;
    pthread_once(&gmime_once, gmime_init_once);
    InternetAddress *mb = internet_address_mailbox_new(NULL, addr);
    const char *ascii = internet_address_mailbox_get_idn_addr(INTERNET_ADDRESS_MAILBOX(mb));
    int ok = ascii && strcmp(ascii, addr) == 0;
    g_object_unref(mb);
    return ok;
}

int mail_address_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 254 || s[0] == '-' || !addr_spec_ok(s, n, 1))
        return 0;
    const char *at = strchr(s, '@');
    return !at || idn_domain_ok(s, at + 1);
}

/* Message-ID: id-left "@" id-right as dot-atoms, optionally in <>.
 * Copies the bare form into out. */
static int message_id_ok(const char *s, char *out, size_t len)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= len || n > 250 || !addr_spec_ok(s, n, 0))
        return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

/* Valid UTF-8, no control characters (C0, DEL, C1, the Unicode line and
 * paragraph separators become spaces), at most max bytes. g_free() it. */
static char *clean_text(const char *in, size_t max)
{
    char *valid = g_utf8_make_valid(in ? in : "", -1);
    GString *out = g_string_sized_new(strlen(valid) + 1);
    for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0x2028 || c == 0x2029)
            c = ' ';
        char buf[8];
        int k = g_unichar_to_utf8(c, buf);
        if (out->len + (size_t)k > max)
            break;
        g_string_append_len(out, buf, k);
    }
    g_free(valid);
    return g_string_free(out, FALSE);
}

/* The body text: valid UTF-8, line ends as LF, no other control
 * characters but tab. g_free() it. */
static char *clean_body(const char *in)
{
    char *valid = g_utf8_make_valid(in ? in : "", -1);
    char *w = valid;
    for (const char *p = valid; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\r' && p[1] == '\n')
            continue;
        if (c == '\r')
            c = '\n';
        else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            c = ' ';
        *w++ = (char)c;
    }
    *w = '\0';
    return valid;
}

/* Headers the builder sets itself, or that would change who gets the
 * mail or how it is read: not allowed as extra headers. */
static int header_reserved(const char *name, size_t n)
{
    static const char *const reserved[] = {
        "from", "sender", "reply-to", "to", "cc", "bcc", "subject", "date", "message-id",
        "mime-version", "received", "return-path", "in-reply-to", "references",
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strlen(reserved[i]) == n && strncasecmp(name, reserved[i], n) == 0)
            return 1;
    return (n >= 8 && strncasecmp(name, "content-", 8) == 0) || (n >= 7 && strncasecmp(name, "resent-", 7) == 0);
}

/* Splits "Name: value" after checking Name (printable ASCII, no colon,
 * not reserved). */
static int extra_header_split(const char *h, char *name, size_t namelen, const char **value)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || (size_t)(colon - h) >= namelen)
        return 0;
    size_t n = (size_t)(colon - h);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)h[i] <= ' ' || (unsigned char)h[i] >= 0x7f)
            return 0;
    if (header_reserved(h, n))
        return 0;
    memcpy(name, h, n);
    name[n] = '\0';
    *value = colon + 1;
    while (**value == ' ' || **value == '\t')
        (*value)++;
    return 1;
}

static int check_message(const struct mail_message *m, char *msgid, size_t idlen, char *why, size_t whylen)
{
    if (m->from && !mail_address_ok(m->from))
        return fail(why, whylen, -EINVAL, "the sender address is not a plain address (local@domain)");
    if (m->nto == 0 || !m->to)
        return fail(why, whylen, -EINVAL, "a mail needs at least one recipient");
    for (size_t i = 0; i < m->nto; i++)
        if (!mail_address_ok(m->to[i]))
            return fail(why, whylen, -EINVAL, "recipient %zu is not a plain address (local@domain)", i + 1);
    msgid[0] = '\0';
    if (m->message_id && !message_id_ok(m->message_id, msgid, idlen))
        return fail(why, whylen, -EINVAL, "the Message-ID is not of the form left@right");
    for (size_t i = 0; i < m->nextra; i++) {
        char name[80];
        const char *value;
        if (!m->extra_headers[i] || !extra_header_split(m->extra_headers[i], name, sizeof name, &value))
            return fail(why, whylen, -EINVAL,
                        "extra header %zu is not \"Name: value\" with a plain name of its own "
                        "(not a header the mail sets itself, not Content-*)",
                        i + 1);
    }
    for (size_t i = 0; i < m->nattachments; i++) {
        struct stat st;
        const struct mail_attachment *a = &m->attachments[i];
        if (a->fd < 0 || fstat(a->fd, &st) != 0 || !S_ISREG(st.st_mode))
            return fail(why, whylen, -EBADF, "attachment %zu is not an open regular file", i + 1);
        if (a->content_type) {
            GMimeContentType *ct = g_mime_content_type_parse(NULL, a->content_type);
            int ok = ct && g_mime_content_type_get_media_type(ct) && g_mime_content_type_get_media_subtype(ct) &&
                     strchr(a->content_type, '/') && !strpbrk(a->content_type, "\r\n");
            if (ct)
                g_object_unref(ct);
            if (!ok)
                return fail(why, whylen, -EINVAL, "attachment %zu: '%s' is not a content type (type/subtype)", i + 1,
                            a->content_type);
        }
    }
    return 0;
}

static GMimeObject *text_part(const char *text)
{
    GMimeTextPart *tp = g_mime_text_part_new_with_subtype("plain");
    char *body = clean_body(text);
    size_t len = strlen(body);
    int ascii = 1;
    for (size_t i = 0; i < len; i++)
        ascii &= (unsigned char)body[i] < 0x80;
    GMimeStream *mem = g_mime_stream_mem_new_with_buffer(body, len);
    g_free(body);
    GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream(mem, GMIME_CONTENT_ENCODING_DEFAULT);
    g_object_unref(mem);
    GMimePart *p = GMIME_PART(tp);
    g_mime_part_set_content(p, content);
    g_object_unref(content);
    g_mime_text_part_set_charset(tp, ascii ? "us-ascii" : "UTF-8");
    g_mime_part_set_content_encoding(p, g_mime_part_get_best_content_encoding(p, GMIME_ENCODING_CONSTRAINT_7BIT));
    return GMIME_OBJECT(tp);
}

static GMimeObject *attachment_part(const struct mail_attachment *a, int *err)
{
    int fd = dup(a->fd);
    if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        *err = -errno;
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    GMimePart *part = g_mime_part_new();
    GMimeContentType *ct = g_mime_content_type_parse(NULL, a->content_type ? a->content_type : "application/octet-stream");
    g_mime_object_set_content_type(GMIME_OBJECT(part), ct);
    g_object_unref(ct);
    GMimeStream *stream = g_mime_stream_fs_new(fd); /* owns fd */
    GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
    g_object_unref(stream);
    g_mime_part_set_content(part, content);
    g_object_unref(content);
    g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
    if (a->filename) {
        const char *base = strrchr(a->filename, '/');
        char *name = clean_text(base ? base + 1 : a->filename, MAIL_HEADER_VALUE_MAX);
        if (name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            g_mime_part_set_filename(part, name); /* also sets the disposition to attachment */
            GMimeObject *o = GMIME_OBJECT(part);
            param_utf8(g_mime_content_disposition_get_parameters(g_mime_object_get_content_disposition(o)), "filename");
            param_utf8(g_mime_content_type_get_parameters(g_mime_object_get_content_type(o)), "name");
        } else
            g_mime_object_set_disposition(GMIME_OBJECT(part), GMIME_DISPOSITION_ATTACHMENT);
        g_free(name);
    } else {
        g_mime_object_set_disposition(GMIME_OBJECT(part), GMIME_DISPOSITION_ATTACHMENT);
    }
    return GMIME_OBJECT(part);
}

static void add_headers(GMimeMessage *msg, const struct mail_message *m, const char *msgid)
{
    if (m->from) {
        char *name = clean_text(m->from_name, MAIL_HEADER_VALUE_MAX);
        InternetAddress *ia = internet_address_mailbox_new(name, m->from);
        internet_address_set_charset(ia, "UTF-8");
        internet_address_list_add(g_mime_message_get_from(msg), ia);
        g_object_unref(ia);
        g_free(name);
    }
    for (size_t i = 0; i < m->nto; i++)
        g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, NULL, m->to[i]);
    char *subject = clean_text(m->subject, MAIL_HEADER_VALUE_MAX);
    g_mime_message_set_subject(msg, subject, "utf-8");
    g_free(subject);
    GDateTime *now = g_date_time_new_now_local();
    g_mime_message_set_date(msg, now);
    g_date_time_unref(now);
    if (msgid[0])
        g_mime_message_set_message_id(msg, msgid);
    for (size_t i = 0; i < m->nextra; i++) {
        char name[80];
        const char *value;
        extra_header_split(m->extra_headers[i], name, sizeof name, &value); /* checked */
        char *v = clean_text(value, MAIL_HEADER_VALUE_MAX);
        g_mime_object_append_header(GMIME_OBJECT(msg), name, v, "utf-8");
        g_free(v);
    }
}

int mail_message_write(const struct mail_message *m, int out_fd, char *why, size_t whylen)
{
    pthread_once(&gmime_once, gmime_init_once);
    char msgid[MAIL_MESSAGE_ID_MAX];
    int r = check_message(m, msgid, sizeof msgid, why, whylen);
    if (r < 0)
        return r;

    GMimeMessage *msg = g_mime_message_new(TRUE);
    add_headers(msg, m, msgid);
    GMimeObject *text = text_part(m->text);
    if (m->nattachments == 0) {
        g_mime_message_set_mime_part(msg, text);
    } else {
        GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
        g_mime_multipart_add(mixed, text);
        for (size_t i = 0; i < m->nattachments && r == 0; i++) {
            GMimeObject *part = attachment_part(&m->attachments[i], &r);
            if (!part) {
                fail(why, whylen, r, "attachment %zu cannot be read: %s", i + 1, strerror(-r));
                break;
            }
            g_mime_multipart_add(mixed, part);
            g_object_unref(part);
        }
        g_mime_message_set_mime_part(msg, GMIME_OBJECT(mixed));
        g_object_unref(mixed);
    }
    g_object_unref(text);

    int fd = r == 0 ? dup(out_fd) : -1;
    if (r == 0 && fd < 0)
        r = fail(why, whylen, -errno, "cannot write the mail: %s", strerror(errno));
    if (r == 0) {
        GMimeStream *out = g_mime_stream_fs_new(fd); /* owns fd */
        GMimeFormatOptions *fo = g_mime_format_options_new();
        g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_UNIX);
        errno = 0;
        ssize_t n = g_mime_object_write_to_stream(GMIME_OBJECT(msg), fo, out);
        int e = errno;
        if (n < 0 || g_mime_stream_flush(out) < 0) {
            e = e ? e : EIO;
            r = fail(why, whylen, -e, "cannot write the mail: %s", strerror(e));
        }
        g_mime_format_options_free(fo);
        g_object_unref(out);
    }
    g_object_unref(msg);
    return r;
}

void mail_message_id(char *out, size_t len, uint64_t job_id, int index, const char *host)
{
    char h[200];
    size_t k = 0;
    for (const char *p = host ? host : ""; *p && k + 1 < sizeof h; p++)
        if (g_ascii_isalnum(*p) || *p == '-' || *p == '.')
            h[k++] = *p;
    h[k] = '\0';
    while (k > 0 && h[k - 1] == '.')
        h[--k] = '\0';
    const char *hs = h;
    while (*hs == '.')
        hs++;
    snprintf(out, len, "faxfs.%llu.%d@%s", (unsigned long long)job_id, index, *hs ? hs : "localhost");
}
