/*
 * test_daemon_mail.c - the mail builder and the sendmail runner: messages
 * read back through GMime's own parser (headers, encoded subject and file
 * names, attachment bytes), outside text that tries to add headers, and
 * sendmail stand-ins that succeed, fail for now, fail for good, hang or
 * are missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "daemon/mail_message.h"
#include "daemon/sendmail.h"
#include "tests/unit/queue_testutil.h"

/* ---- helpers ---- */

static int memfile(const void *data, size_t len)
{
    int fd = memfd_create("test-mail", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    return fd;
}

static char *fd_text(int fd, size_t *len)
{
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
    buf[size] = '\0';
    if (len)
        *len = (size_t)size;
    return buf;
}

static GMimeMessage *parse(int fd)
{
    int d = dup(fd);
    lseek(d, 0, SEEK_SET);
    GMimeStream *s = g_mime_stream_fs_new(d);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(s);
    assert_non_null(m);
    return m;
}

static int header_count(GMimeObject *o, const char *name)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(o);
    int n = 0;
    for (int i = 0; i < g_mime_header_list_get_count(hl); i++)
        n += g_ascii_strcasecmp(g_mime_header_get_name(g_mime_header_list_get_header_at(hl, i)), name) == 0;
    return n;
}

static GByteArray *part_bytes(GMimePart *part)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(part), mem);
    GByteArray *copy = g_byte_array_new();
    GByteArray *a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    g_byte_array_append(copy, a->data, a->len);
    g_object_unref(mem);
    return copy;
}

/* Every line of the message: at most 998 octets (RFC 5322) and no bare CR. */
static void assert_lines_sane(const char *text)
{
    size_t col = 0;
    for (const char *p = text; *p; p++) {
        assert_true(*p != '\r');
        col = *p == '\n' ? 0 : col + 1;
        assert_true(col <= 998);
    }
}

/* No header line of the top-level header block starts with name. */
static void assert_no_header_line(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *end = strstr(text, "\n\n");
    assert_non_null(end);
    for (const char *line = text; line && line < end; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        assert_false(g_ascii_strncasecmp(line, name, n) == 0);
}

/* ---- the message ---- */

static void test_message_round_trips_through_gmime(void **state)
{
    (void)state;
    unsigned char pdf[3000];
    for (size_t i = 0; i < sizeof pdf; i++)
        pdf[i] = (unsigned char)(i * 131 + 7); /* every byte value, CR and LF included */
    memcpy(pdf, "%PDF-1.4\r\n", 10);
    int a1 = memfile(pdf, sizeof pdf);
    int a2 = memfile("hello\n", 6);
    const char *to[] = {"alice@fax.localhost", "bob@example.net"};
    const char *extra[] = {"X-Faxfs-Job: 42", "X-Faxfs-Caller: Müller GmbH +49 30 1234"};
    struct mail_attachment att[] = {
        {"application/pdf", "Fax von Müller.pdf", a1},
        {NULL, "../../etc/passwd", a2},
    };
    struct mail_message m = {
        .from = "fax@fax.localhost",
        .from_name = "Faxserver Zürich",
        .to = to,
        .nto = 2,
        .subject = "Fax von Müller – 3 Seiten",
        .message_id = "<faxfs.42.1@host.example>",
        .text = "Ein Fax ist angekommen.\r\nGrüße\n",
        .attachments = att,
        .nattachments = 2,
        .extra_headers = extra,
        .nextra = 2,
    };
    int out = memfd_create("msg", MFD_CLOEXEC);
    char why[200] = "";
    assert_int_equal(mail_message_write(&m, out, why, sizeof why), 0);
    char *raw = fd_text(out, NULL);
    assert_lines_sane(raw);
    assert_non_null(strstr(raw, "\nSubject: Fax von =?UTF-8?")); /* RFC 2047 */
    assert_non_null(strstr(raw, "filename*=UTF-8''")); /* RFC 2231 */
    assert_non_null(strstr(raw, "text/plain; charset=UTF-8"));
    assert_non_null(strstr(raw, "Content-Transfer-Encoding: base64"));

    GMimeMessage *msg = parse(out);
    assert_string_equal(g_mime_message_get_subject(msg), "Fax von Müller – 3 Seiten");
    assert_string_equal(g_mime_message_get_message_id(msg), "faxfs.42.1@host.example");
    assert_non_null(g_mime_message_get_date(msg));
    InternetAddressList *tl = g_mime_message_get_to(msg);
    assert_int_equal(internet_address_list_length(tl), 2);
    assert_string_equal(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(tl, 1))),
                        "bob@example.net");
    InternetAddress *from = internet_address_list_get_address(g_mime_message_get_from(msg), 0);
    assert_string_equal(internet_address_get_name(from), "Faxserver Zürich");
    assert_string_equal(g_mime_object_get_header(GMIME_OBJECT(msg), "X-Faxfs-Job"), "42");
    char *caller = g_mime_utils_header_decode_text(NULL, g_mime_object_get_header(GMIME_OBJECT(msg), "X-Faxfs-Caller"));
    assert_string_equal(caller, "Müller GmbH +49 30 1234");
    g_free(caller);

    GMimeObject *body = g_mime_message_get_mime_part(msg);
    assert_true(GMIME_IS_MULTIPART(body));
    GMimeMultipart *mp = GMIME_MULTIPART(body);
    assert_int_equal(g_mime_multipart_get_count(mp), 3);
    GMimeTextPart *text = GMIME_TEXT_PART(g_mime_multipart_get_part(mp, 0));
    char *t = g_mime_text_part_get_text(text);
    assert_string_equal(t, "Ein Fax ist angekommen.\nGrüße\n");
    g_free(t);

    GMimePart *p1 = GMIME_PART(g_mime_multipart_get_part(mp, 1));
    assert_string_equal(g_mime_part_get_filename(p1), "Fax von Müller.pdf");
    assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(GMIME_OBJECT(p1)), "application", "pdf"));
    GByteArray *b1 = part_bytes(p1);
    assert_int_equal(b1->len, sizeof pdf);
    assert_memory_equal(b1->data, pdf, sizeof pdf);
    g_byte_array_unref(b1);

    GMimePart *p2 = GMIME_PART(g_mime_multipart_get_part(mp, 2));
    assert_string_equal(g_mime_part_get_filename(p2), "passwd"); /* no path reaches the reader */
    assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(GMIME_OBJECT(p2)), "application",
                                            "octet-stream"));
    GByteArray *b2 = part_bytes(p2);
    assert_int_equal(b2->len, 6);
    assert_memory_equal(b2->data, "hello\n", 6);
    g_byte_array_unref(b2);

    g_object_unref(msg);
    free(raw);
    close(out);
    close(a1);
    close(a2);
}

static void test_text_only_message_has_no_multipart(void **state)
{
    (void)state;
    const char *to[] = {"alice"};
    struct mail_message m = {.to = to, .nto = 1, .subject = "fax 7 to 5551234: done", .text = "Done.\n"};
    int out = memfd_create("msg", MFD_CLOEXEC);
    char why[200];
    assert_int_equal(mail_message_write(&m, out, why, sizeof why), 0);
    GMimeMessage *msg = parse(out);
    assert_true(GMIME_IS_TEXT_PART(g_mime_message_get_mime_part(msg)));
    assert_null(g_mime_message_get_from(msg) ? internet_address_list_get_address(g_mime_message_get_from(msg), 0)
                                              : NULL);
    assert_string_equal(g_mime_message_get_subject(msg), "fax 7 to 5551234: done");
    g_object_unref(msg);
    close(out);
}

/* CR, LF and other control characters in outside text never start a
 * header line of their own. */
static void test_line_breaks_in_outside_values_add_no_header(void **state)
{
    (void)state;
    const char *evil = "ACME\r\nBcc: evil@example.com\nX-Injected: 1\r\n\r\nbody";
    char caller[300];
    snprintf(caller, sizeof caller, "X-Faxfs-Caller: %s", evil);
    const char *extra[] = {caller};
    int a = memfile("x", 1);
    struct mail_attachment att = {"application/pdf", "fax\r\nBcc: evil@example.com.pdf", a};
    const char *to[] = {"alice@fax.localhost"};
    struct mail_message m = {
        .from = "fax@fax.localhost", .from_name = evil, .to = to, .nto = 1, .subject = evil,
        .text = "t", .attachments = &att, .nattachments = 1, .extra_headers = extra, .nextra = 1,
    };
    int out = memfd_create("msg", MFD_CLOEXEC);
    char why[200];
    assert_int_equal(mail_message_write(&m, out, why, sizeof why), 0);
    char *raw = fd_text(out, NULL);
    assert_no_header_line(raw, "Bcc:");
    assert_no_header_line(raw, "X-Injected:");
    assert_null(strstr(raw, "\nBcc:"));
    assert_null(strstr(raw, "\nX-Injected:"));
    GMimeMessage *msg = parse(out);
    assert_int_equal(header_count(GMIME_OBJECT(msg), "Bcc"), 0);
    assert_int_equal(header_count(GMIME_OBJECT(msg), "X-Injected"), 0);
    assert_int_equal(header_count(GMIME_OBJECT(msg), "X-Faxfs-Caller"), 1);
    assert_int_equal(internet_address_list_length(g_mime_message_get_all_recipients(msg)), 1);
    /* The text survives, on one line. */
    assert_non_null(strstr(g_mime_message_get_subject(msg), "Bcc: evil@example.com"));
    assert_null(strpbrk(g_mime_message_get_subject(msg), "\r\n"));
    GMimeMultipart *mp = GMIME_MULTIPART(g_mime_message_get_mime_part(msg));
    assert_int_equal(g_mime_multipart_get_count(mp), 2);
    const char *fname = g_mime_part_get_filename(GMIME_PART(g_mime_multipart_get_part(mp, 1)));
    assert_null(strpbrk(fname, "\r\n"));
    g_object_unref(msg);
    free(raw);
    close(out);
    close(a);
}

static void test_long_values_are_cut_and_folded(void **state)
{
    (void)state;
    static char word[6000], words[6000], hdr[6100];
    memset(word, 'W', sizeof word - 1);
    for (size_t i = 0; i + 1 < sizeof words; i++)
        words[i] = i % 7 == 6 ? ' ' : "ÄBC"[i % 3 == 0 ? 0 : 2]; /* mixed, with broken UTF-8 */
    snprintf(hdr, sizeof hdr, "X-Faxfs-Caller: %s", word);
    const char *extra[] = {hdr};
    const char *to[] = {"alice@fax.localhost"};
    struct mail_message m = {.to = to, .nto = 1, .subject = word, .from = "f@x", .from_name = words,
                             .text = "t", .extra_headers = extra, .nextra = 1};
    int out = memfd_create("msg", MFD_CLOEXEC);
    char why[200];
    assert_int_equal(mail_message_write(&m, out, why, sizeof why), 0);
    char *raw = fd_text(out, NULL);
    assert_lines_sane(raw);
    GMimeMessage *msg = parse(out);
    const char *subject = g_mime_message_get_subject(msg);
    assert_true(strlen(subject) > 0 && strlen(subject) <= MAIL_HEADER_VALUE_MAX);
    assert_int_equal(strspn(subject, "W"), strlen(subject));
    assert_int_equal(internet_address_list_length(g_mime_message_get_from(msg)), 1);
    assert_true(g_utf8_validate(internet_address_get_name(internet_address_list_get_address(g_mime_message_get_from(msg), 0)), -1, NULL));
    g_object_unref(msg);
    free(raw);
    close(out);
}

static void test_file_names_keep_only_a_plain_last_component(void **state)
{
    (void)state;
    const char *names[] = {"../..", "/", "dir/.", "a/b/fax.pdf"};
    const char *want[] = {NULL, NULL, NULL, "fax.pdf"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int a = memfile("x", 1);
        struct mail_attachment att = {"application/pdf", names[i], a};
        const char *to[] = {"alice@fax.localhost"};
        struct mail_message m = {.to = to, .nto = 1, .attachments = &att, .nattachments = 1};
        int out = memfd_create("msg", MFD_CLOEXEC);
        char why[200];
        assert_int_equal(mail_message_write(&m, out, why, sizeof why), 0);
        GMimeMessage *msg = parse(out);
        GMimeObject *part = g_mime_multipart_get_part(GMIME_MULTIPART(g_mime_message_get_mime_part(msg)), 1);
        const char *got = g_mime_part_get_filename(GMIME_PART(part));
        if (want[i])
            assert_string_equal(got, want[i]);
        else
            assert_null(got);
        assert_true(g_mime_part_is_attachment(GMIME_PART(part)));
        g_object_unref(msg);
        close(out);
        close(a);
    }
}

static void test_refused_parts_write_nothing(void **state)
{
    (void)state;
    const char *ok_to[] = {"alice@fax.localhost"};
    const char *bad_to[][1] = {{"alice@fax.localhost\nbob@x"}, {"-oQ/tmp"}, {"Bob <bob@x>"}, {""}, {"a b@x"},
                               {"fax@fax."}, {".a@x"}, {"a..b@x"}, {"a@"}, {"@x"}, {"a@b@c"}, {"\"a\"@x"},
                               {"fax@xn--localhost"}, {"fax@a.xn--a"}, {"fax@fax.xn--lof"}};
    const char *bad_extra[][1] = {{"Bcc: evil@example.com"}, {"Content-Type: text/html"}, {"X-Bad Name: v"},
                                  {"NoColon"}, {": empty"}, {"Subject: other"}, {"Resent-To: x@y"}};
    const char *bad_ids[] = {"no-at-sign", "<a@b>\r\nBcc: x@y", "a@b@c", "<>", "a b@c", "a@b.", "<a@b"};
    int out = memfd_create("msg", MFD_CLOEXEC);
    char why[200];
    for (size_t i = 0; i < sizeof bad_to / sizeof bad_to[0]; i++) {
        struct mail_message m = {.to = bad_to[i], .nto = 1, .subject = "s"};
        why[0] = '\0';
        assert_int_equal(mail_message_write(&m, out, why, sizeof why), -EINVAL);
        assert_non_null(strstr(why, "recipient 1"));
    }
    for (size_t i = 0; i < sizeof bad_extra / sizeof bad_extra[0]; i++) {
        struct mail_message m = {.to = ok_to, .nto = 1, .extra_headers = bad_extra[i], .nextra = 1};
        assert_int_equal(mail_message_write(&m, out, why, sizeof why), -EINVAL);
        assert_non_null(strstr(why, "extra header 1"));
    }
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        struct mail_message m = {.to = ok_to, .nto = 1, .message_id = bad_ids[i]};
        assert_int_equal(mail_message_write(&m, out, why, sizeof why), -EINVAL);
    }
    /* A valid IDN domain is an ordinary address. */
    assert_true(mail_address_ok("fax@xn--mnchen-3ya.de"));
    assert_true(mail_address_ok("fax@fax.localhost"));
    assert_false(mail_address_ok("fax@xn--localhost"));
    struct mail_message no_rcpt = {.to = ok_to, .nto = 0};
    assert_int_equal(mail_message_write(&no_rcpt, out, why, sizeof why), -EINVAL);
    struct mail_message bad_from = {.from = "x\r\n@y", .to = ok_to, .nto = 1};
    assert_int_equal(mail_message_write(&bad_from, out, why, sizeof why), -EINVAL);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    struct mail_attachment pipe_att = {"application/pdf", "a.pdf", pipefd[0]};
    struct mail_message not_a_file = {.to = ok_to, .nto = 1, .attachments = &pipe_att, .nattachments = 1};
    assert_int_equal(mail_message_write(&not_a_file, out, why, sizeof why), -EBADF);
    struct mail_attachment bad_type = {"pdf", "a.pdf", out};
    struct mail_message typeless = {.to = ok_to, .nto = 1, .attachments = &bad_type, .nattachments = 1};
    assert_int_equal(mail_message_write(&typeless, out, why, sizeof why), -EINVAL);
    assert_int_equal(lseek(out, 0, SEEK_END), 0);
    close(pipefd[0]);
    close(pipefd[1]);
    close(out);
}

static void test_write_error_is_reported(void **state)
{
    (void)state;
    const char *to[] = {"alice@fax.localhost"};
    struct mail_message m = {.to = to, .nto = 1, .subject = "s", .text = "t"};
    int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char why[200] = "";
    int r = mail_message_write(&m, ro, why, sizeof why);
    assert_true(r < 0);
    assert_non_null(strstr(why, "cannot write the mail"));
    close(ro);
}

static void test_message_id_names_job_delivery_and_host(void **state)
{
    (void)state;
    char a[MAIL_MESSAGE_ID_MAX], b[MAIL_MESSAGE_ID_MAX];
    mail_message_id(a, sizeof a, 42, 1, "fax.example.net");
    mail_message_id(b, sizeof b, 42, 1, "fax.example.net");
    assert_string_equal(a, b);
    assert_string_equal(a, "faxfs.42.1@fax.example.net");
    mail_message_id(b, sizeof b, 42, 2, "fax.example.net");
    assert_string_not_equal(a, b);
    mail_message_id(a, sizeof a, 7, 0, "evil>\r\nBcc: x@y");
    assert_null(strpbrk(a, "<>\r\n :"));
    mail_message_id(a, sizeof a, 7, 0, NULL);
    assert_string_equal(a, "faxfs.7.0@localhost");
    /* What the helper makes, the builder takes. */
    const char *to[] = {"alice"};
    mail_message_id(a, sizeof a, 99, 3, "host-1.example");
    struct mail_message m = {.to = to, .nto = 1, .message_id = a};
    int out = memfd_create("msg", MFD_CLOEXEC);
    char why[200];
    assert_int_equal(mail_message_write(&m, out, why, sizeof why), 0);
    GMimeMessage *msg = parse(out);
    assert_string_equal(g_mime_message_get_message_id(msg), a);
    g_object_unref(msg);
    close(out);
}

/* ---- sendmail ---- */

static char dir[256];

static void write_script(const char *name, const char *body, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

static char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *s = fd_text(fd, NULL);
    close(fd);
    return s;
}

static void test_sendmail_gets_recipients_as_arguments_and_message_on_stdin(void **state)
{
    (void)state;
    char path[400], body[1200];
    snprintf(body, sizeof body,
             "for a in \"$@\"; do printf '[%%s]' \"$a\"; done > '%s/args'\ncat > '%s/stdin'\n"
             "env > '%s/env'\nexit 0",
             dir, dir, dir);
    write_script("sendmail-ok", body, path, sizeof path);
    int msg = memfile("Subject: hi\n\nbody\n", 18);
    const char *rcpt[] = {"alice@fax.localhost", "bob@example.net"};
    struct sendmail_config cfg = {.path = path, .timeout_seconds = 20};
    char why[300];
    setenv("FAXFS_SECRET_TEST", "leak", 1);
    assert_int_equal(sendmail_deliver(&cfg, "fax@fax.localhost", rcpt, 2, msg, why, sizeof why), SENDMAIL_OK);
    char f[400];
    snprintf(f, sizeof f, "%s/args", dir);
    char *args = slurp(f);
    assert_string_equal(args, "[-i][-f][fax@fax.localhost][--][alice@fax.localhost][bob@example.net]");
    snprintf(f, sizeof f, "%s/stdin", dir);
    char *in = slurp(f);
    assert_string_equal(in, "Subject: hi\n\nbody\n");
    snprintf(f, sizeof f, "%s/env", dir);
    char *env = slurp(f);
    assert_null(strstr(env, "FAXFS_SECRET_TEST"));
    unsetenv("FAXFS_SECRET_TEST");
    free(args);
    free(in);
    free(env);
    /* Without a sender there is no -f. */
    assert_int_equal(sendmail_deliver(&cfg, NULL, rcpt, 1, msg, why, sizeof why), SENDMAIL_OK);
    snprintf(f, sizeof f, "%s/args", dir);
    args = slurp(f);
    assert_string_equal(args, "[-i][--][alice@fax.localhost]");
    free(args);
    close(msg);
}

static void test_sendmail_exit_status_is_classified(void **state)
{
    (void)state;
    static const struct { int code; enum sendmail_result want; const char *name; } cases[] = {
        {75, SENDMAIL_TEMPORARY, "EX_TEMPFAIL"}, {67, SENDMAIL_PERMANENT, "EX_NOUSER"},
        {65, SENDMAIL_PERMANENT, "EX_DATAERR"}, {69, SENDMAIL_TEMPORARY, "EX_UNAVAILABLE"},
        {74, SENDMAIL_TEMPORARY, "EX_IOERR"},   {1, SENDMAIL_TEMPORARY, "exited with 1"},
    };
    const char *rcpt[] = {"nobody@fax.localhost"};
    int msg = memfile("x\n", 2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[400], body[200], name[40];
        snprintf(name, sizeof name, "sendmail-%d", cases[i].code);
        snprintf(body, sizeof body, "cat >/dev/null\necho \"sendmail: said $1 $2 $3 $4\" >&2\nexit %d", cases[i].code);
        write_script(name, body, path, sizeof path);
        struct sendmail_config cfg = {.path = path, .timeout_seconds = 20};
        char why[300] = "";
        assert_int_equal(sendmail_deliver(&cfg, "fax@x", rcpt, 1, msg, why, sizeof why), cases[i].want);
        assert_non_null(strstr(why, cases[i].name));
        assert_non_null(strstr(why, "sendmail: said -i -f fax@x --")); /* its own words */
    }
    close(msg);
}

static void test_hanging_sendmail_is_killed_with_its_children(void **state)
{
    (void)state;
    char path[400], body[400], pidfile[300];
    snprintf(pidfile, sizeof pidfile, "%s/grandchild.pid", dir);
    snprintf(body, sizeof body, "sleep 300 &\necho $! > '%s'\nwait", pidfile);
    write_script("sendmail-hang", body, path, sizeof path);
    const char *rcpt[] = {"alice@fax.localhost"};
    int msg = memfile("x\n", 2);
    struct sendmail_config cfg = {.path = path, .timeout_seconds = 1};
    struct sendmail_child c;
    char why[300] = "";
    assert_int_equal(sendmail_start(&cfg, NULL, rcpt, 1, msg, &c, why, sizeof why), SENDMAIL_RUNNING);
    assert_int_equal(sendmail_poll(&c, why, sizeof why), SENDMAIL_RUNNING); /* does not block */
    enum sendmail_result r;
    while ((r = sendmail_poll(&c, why, sizeof why)) == SENDMAIL_RUNNING)
        usleep(20000);
    assert_int_equal(r, SENDMAIL_TEMPORARY);
    assert_non_null(strstr(why, "killed"));
    assert_int_equal(c.pid, 0);
    char *pid = slurp(pidfile);
    assert_non_null(pid);
    pid_t gc = (pid_t)atoi(pid);
    assert_true(gc > 0);
    /* The grandchild was in the killed group: gone (or a zombie of init's, being reaped). */
    for (int i = 0; i < 100 && kill(gc, 0) == 0; i++) {
        char st[64], statline[400] = "";
        snprintf(st, sizeof st, "/proc/%d/stat", (int)gc);
        FILE *f = fopen(st, "r");
        if (f) {
            if (!fgets(statline, sizeof statline, f))
                statline[0] = '\0';
            fclose(f);
        }
        char *paren = strrchr(statline, ')');
        if (!f || (paren && paren[2] == 'Z'))
            break;
        usleep(20000);
    }
    char st[64];
    snprintf(st, sizeof st, "/proc/%d/cmdline", (int)gc);
    char *cmd = slurp(st);
    assert_true(cmd == NULL || strstr(cmd, "sleep") == NULL);
    free(cmd);
    free(pid);
    close(msg);
}

static void test_missing_sendmail_is_temporary(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/no-such-sendmail", dir);
    const char *rcpt[] = {"alice@fax.localhost"};
    int msg = memfile("x\n", 2);
    struct sendmail_config cfg = {.path = path, .timeout_seconds = 5};
    char why[300] = "";
    assert_int_equal(sendmail_deliver(&cfg, NULL, rcpt, 1, msg, why, sizeof why), SENDMAIL_TEMPORARY);
    assert_non_null(strstr(why, "--sendmail"));
    /* Present but not a program it can start. */
    write_script("sendmail-broken", "", path, sizeof path);
    FILE *f = fopen(path, "w");
    fputs("#!/nonexistent/interpreter\n", f);
    fclose(f);
    assert_int_equal(sendmail_deliver(&cfg, NULL, rcpt, 1, msg, why, sizeof why), SENDMAIL_TEMPORARY);
    assert_non_null(strstr(why, "cannot run"));
    close(msg);
}

static void test_refused_addresses_never_reach_sendmail(void **state)
{
    (void)state;
    char path[400], body[400], marker[300];
    snprintf(marker, sizeof marker, "%s/ran", dir);
    unlink(marker);
    snprintf(body, sizeof body, "touch '%s'", marker);
    write_script("sendmail-marker", body, path, sizeof path);
    int msg = memfile("x\n", 2);
    struct sendmail_config cfg = {.path = path, .timeout_seconds = 5};
    char why[300];
    const char *bad[][1] = {{"-oQ/tmp"}, {"a@b\nc@d"}, {"Bob <b@x>"}, {""}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sendmail_deliver(&cfg, NULL, bad[i], 1, msg, why, sizeof why), SENDMAIL_PERMANENT);
    const char *ok[] = {"a@b"};
    assert_int_equal(sendmail_deliver(&cfg, "-bd", ok, 1, msg, why, sizeof why), SENDMAIL_PERMANENT);
    assert_int_equal(sendmail_deliver(&cfg, NULL, ok, 0, msg, why, sizeof why), SENDMAIL_PERMANENT);
    assert_int_equal(access(marker, F_OK), -1);
    close(msg);
}

static void test_sendmail_runs_as_the_configured_user(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char path[400], body[300], out[300];
    snprintf(out, sizeof out, "%s/id", dir);
    snprintf(body, sizeof body, "id -u > /dev/stderr; id -G >&2; exit 75");
    write_script("sendmail-id", body, path, sizeof path);
    int msg = memfile("x\n", 2);
    struct sendmail_config cfg = {.path = path, .timeout_seconds = 10, .run_as = true, .uid = 65534, .gid = 65534};
    char why[300] = "";
    const char *rcpt[] = {"a@b"};
    assert_int_equal(sendmail_deliver(&cfg, NULL, rcpt, 1, msg, why, sizeof why), SENDMAIL_TEMPORARY);
    assert_non_null(strstr(why, ": 65534")); /* first line of its output */
    (void)out;
    close(msg);
}

static int setup_dir(void **state)
{
    (void)state;
    g_mime_init();
    make_temp_dir(dir, sizeof dir);
    chmod(dir, 0755); /* the configured-user test runs a script from it */
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_round_trips_through_gmime),
        cmocka_unit_test(test_text_only_message_has_no_multipart),
        cmocka_unit_test(test_line_breaks_in_outside_values_add_no_header),
        cmocka_unit_test(test_long_values_are_cut_and_folded),
        cmocka_unit_test(test_file_names_keep_only_a_plain_last_component),
        cmocka_unit_test(test_refused_parts_write_nothing),
        cmocka_unit_test(test_write_error_is_reported),
        cmocka_unit_test(test_message_id_names_job_delivery_and_host),
        cmocka_unit_test(test_sendmail_gets_recipients_as_arguments_and_message_on_stdin),
        cmocka_unit_test(test_sendmail_exit_status_is_classified),
        cmocka_unit_test(test_hanging_sendmail_is_killed_with_its_children),
        cmocka_unit_test(test_missing_sendmail_is_temporary),
        cmocka_unit_test(test_refused_addresses_never_reach_sendmail),
        cmocka_unit_test(test_sendmail_runs_as_the_configured_user),
    };
    return cmocka_run_group_tests(tests, setup_dir, NULL);
}
