/*
 * test_daemon_mail_gateway.c - the parts of faxfs-mail: the number in a
 * recipient address, the sender map, the exit code of each refusal (of the
 * functions and of the program itself), and MIME parsing of messages
 * written by the project's own builder (mail_message.h) and of
 * hand-written .eml fixtures (quoted-printable, base64, nested
 * multipart/alternative and multipart/related, HTML only, a lying type).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/mail_gateway.h"
#include "daemon/mail_message.h"

#ifndef FIXTURES
#error FIXTURES must name tests/unit/mail_gateway
#endif
#ifndef FAXFS_MAIL
#error FAXFS_MAIL must name the faxfs-mail binary
#endif

static char dir[] = "/tmp/faxfs-mailgw-unit.XXXXXX";

static int memfile(const void *data, size_t len)
{
    int fd = memfd_create("test-mailgw", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static char *fd_bytes(int fd, size_t *len)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *b = malloc((size_t)st.st_size + 1);
    assert_non_null(b);
    assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
    b[st.st_size] = '\0';
    *len = (size_t)st.st_size;
    return b;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* ---- the number ---- */

static void test_number_from_address(void **state)
{
    (void)state;
    char n[MAILGW_NUMBER_MAX], why[256];
    assert_int_equal(mailgw_number("5551234@fax.example.org", n, sizeof n, why, sizeof why), 0);
    assert_string_equal(n, "5551234");
    assert_int_equal(mailgw_number("+49-30-123.45@fax", n, sizeof n, why, sizeof why), 0);
    assert_string_equal(n, "+49-30-123.45");
    assert_int_equal(mailgw_number("9,5551234@fax", n, sizeof n, why, sizeof why), 0);
    assert_string_equal(n, "9,5551234");

    static const char *const bad[] = {
        "alice@fax", "@fax", "5551234@", "", "555 1234@fax", "-5551234@fax", "5551234-@fax",
        "555+1234@fax", "--map=x@fax", "555;rm@fax", "+@fax", "5551234\n@fax",
        "1234567890123456789012345678901234567890123456789012345678901234567890@fax",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(mailgw_number(bad[i], n, sizeof n, why, sizeof why), -EINVAL);
        assert_true(why[0] != '\0');
    }
    assert_int_equal(mailgw_number(NULL, n, sizeof n, why, sizeof why), -EINVAL);
}

/* ---- the sender map ---- */

static void test_sender_map(void **state)
{
    (void)state;
    char map[256], user[MAILGW_USER_MAX], why[256];
    snprintf(map, sizeof map, "%s/senders", dir);
    write_text(map,
               "# faxes by mail\n"
               "@example.org   office   # the whole domain\n"
               "ada@example.org\tada\n"
               "\n"
               "broken-line-without-user\n"
               "Bob@Example.NET bob\n",
               0644);
    assert_int_equal(mailgw_map_lookup(map, 0, "ada@example.org", user, sizeof user, why, sizeof why), 0);
    assert_string_equal(user, "ada"); /* the exact address wins over the domain */
    assert_int_equal(mailgw_map_lookup(map, 0, "ADA@example.ORG", user, sizeof user, why, sizeof why), 0);
    assert_string_equal(user, "ada");
    assert_int_equal(mailgw_map_lookup(map, 0, "carol@example.org", user, sizeof user, why, sizeof why), 0);
    assert_string_equal(user, "office");
    assert_int_equal(mailgw_map_lookup(map, 0, "bob@example.net", user, sizeof user, why, sizeof why), 0);
    assert_string_equal(user, "bob");

    assert_int_equal(mailgw_map_lookup(map, 0, "eve@example.com", user, sizeof user, why, sizeof why), -ENOENT);
    assert_non_null(strstr(why, "not in the sender map"));
    /* A subdomain is another domain; a comment is no entry. */
    assert_int_equal(mailgw_map_lookup(map, 0, "x@sub.example.org", user, sizeof user, why, sizeof why), -ENOENT);
    assert_int_equal(mailgw_map_lookup(map, 0, "broken-line-without-user", user, sizeof user, why, sizeof why),
                     -EINVAL);
    assert_int_equal(mailgw_map_lookup(map, 0, "", user, sizeof user, why, sizeof why), -EINVAL);
    assert_int_equal(mailgw_map_lookup(map, 0, "a b@example.org", user, sizeof user, why, sizeof why), -EINVAL);
    assert_int_equal(mailgw_map_lookup(map, 0, "@example.org", user, sizeof user, why, sizeof why), -EINVAL);

    /* Missing map: not "unknown sender" (that would bounce for good). */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none", dir);
    assert_int_equal(mailgw_map_lookup(missing, 0, "ada@example.org", user, sizeof user, why, sizeof why), -EIO);
    /* A directory is no map. */
    assert_int_equal(mailgw_map_lookup(dir, 0, "ada@example.org", user, sizeof user, why, sizeof why), -EPERM);
    /* Writable by others: refused when the map must be root's. */
    if (geteuid() == 0) {
        assert_int_equal(chmod(map, 0666), 0);
        assert_int_equal(mailgw_map_lookup(map, 1, "ada@example.org", user, sizeof user, why, sizeof why), -EPERM);
        assert_int_equal(chmod(map, 0644), 0);
        assert_int_equal(mailgw_map_lookup(map, 1, "ada@example.org", user, sizeof user, why, sizeof why), 0);
        assert_int_equal(chown(map, 65534, 0), 0);
        assert_int_equal(mailgw_map_lookup(map, 1, "ada@example.org", user, sizeof user, why, sizeof why), -EPERM);
        assert_int_equal(chown(map, 0, 0), 0);
    }
}

/* ---- exit codes of failed submissions ---- */

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(mailgw_exit_code(0, MAILGW_AT_SUBMIT), 0);
    assert_int_equal(mailgw_exit_code(-EACCES, MAILGW_AT_SUBMIT), MAILGW_EX_NOPERM);
    assert_int_equal(mailgw_exit_code(-EACCES, MAILGW_AT_NUMBER), MAILGW_EX_NOPERM);
    assert_int_equal(mailgw_exit_code(-EAGAIN, MAILGW_AT_SUBMIT), MAILGW_EX_TEMPFAIL);
    assert_int_equal(mailgw_exit_code(-ENOTCONN, MAILGW_AT_DRAFT), MAILGW_EX_TEMPFAIL);
    assert_int_equal(mailgw_exit_code(-ENOENT, MAILGW_AT_DRAFT), MAILGW_EX_TEMPFAIL);
    assert_int_equal(mailgw_exit_code(-EDQUOT, MAILGW_AT_DOCUMENT), MAILGW_EX_TEMPFAIL);
    assert_int_equal(mailgw_exit_code(-EINVAL, MAILGW_AT_NUMBER), MAILGW_EX_NOUSER);
    assert_int_equal(mailgw_exit_code(-EINVAL, MAILGW_AT_DOCUMENT), MAILGW_EX_DATAERR);
    assert_int_equal(mailgw_exit_code(-EFBIG, MAILGW_AT_DOCUMENT), MAILGW_EX_DATAERR);
    assert_int_equal(mailgw_exit_code(-EEXIST, MAILGW_AT_DRAFT), MAILGW_EX_UNAVAILABLE);
}

/* run_gateway: faxfs-mail with args and the message on stdin; its exit
 * code, its stderr in err. */
static int run_gateway(const char *message, size_t len, char *err, size_t errlen, const char *const *args)
{
    char in[300], errpath[300];
    snprintf(in, sizeof in, "%s/stdin", dir);
    snprintf(errpath, sizeof errpath, "%s/stderr", dir);
    int fd = open(in, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, message, len), (ssize_t)len);
    close(fd);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int i = open(in, O_RDONLY), e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(i, 0);
        dup2(e, 2);
        const char *argv[32] = {FAXFS_MAIL};
        size_t n = 1;
        for (; args[n - 1] && n < 31; n++)
            argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(FAXFS_MAIL, (char *const *)argv);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    fd = open(errpath, O_RDONLY);
    ssize_t k = fd >= 0 ? read(fd, err, errlen - 1) : -1;
    err[k > 0 ? k : 0] = '\0';
    if (fd >= 0)
        close(fd);
    return WEXITSTATUS(st);
}

static void test_program_exit_codes(void **state)
{
    (void)state;
    /* Map a sender to a user the program may become: nobody when it runs
     * as root, else the caller itself. root maps to root: refused. */
    const char *mapped = "nobody";
    if (geteuid() != 0) {
        struct passwd *pw = getpwuid(geteuid());
        assert_non_null(pw);
        mapped = pw->pw_name;
    }
    char map[300], text[512], err[2048];
    snprintf(map, sizeof map, "%s/gw-senders", dir);
    snprintf(text, sizeof text, "ada@example.org %s\nroot@example.org root\n", mapped);
    write_text(map, text, 0644);
    /* Not under dir: the mapped user may not enter dir. */
    const char *mount = "/nonexistent/faxfs-mail-test-mount";

    /* A message with a PDF, from the project's own builder. */
    static const char pdf[] = "%PDF-1.4\n% test\n%%EOF\n";
    int pdffd = memfile(pdf, sizeof pdf - 1);
    struct mail_attachment att = {"application/pdf", "a.pdf", pdffd};
    const char *to[] = {"5551234@fax.example.org"};
    struct mail_message mm = {.from = "ada@example.org", .to = to, .nto = 1, .subject = "s", .text = "hello",
                              .attachments = &att, .nattachments = 1};
    int out = memfd_create("msg", MFD_CLOEXEC);
    char why[256];
    assert_int_equal(mail_message_write(&mm, out, why, sizeof why), 0);
    size_t mlen;
    char *msg = fd_bytes(out, &mlen);
    close(out);
    close(pdffd);

    /* Unknown sender: 67, and the line says why. */
    const char *a1[] = {"--mount", mount, "--map", map, "--sender", "eve@example.org", "--", "5551234@fax", NULL};
    assert_int_equal(run_gateway(msg, mlen, err, sizeof err, a1), MAILGW_EX_NOUSER);
    assert_non_null(strstr(err, "faxfs-mail: "));
    assert_non_null(strstr(err, "not in the sender map"));
    /* A recipient that is no number: 67. */
    const char *a2[] = {"--mount", mount, "--map", map, "--sender", "ada@example.org", "--", "alice@fax", NULL};
    assert_int_equal(run_gateway(msg, mlen, err, sizeof err, a2), MAILGW_EX_NOUSER);
    assert_non_null(strstr(err, "alice@fax"));
    /* No attachment: 65 with the sentence the bounce shows. */
    static const char plain[] = "From: ada@example.org\nSubject: x\n\nJust text.\n";
    const char *a3[] = {"--mount", mount, "--map", map, "--sender", "ada@example.org", "--", "5551234@fax", NULL};
    assert_int_equal(run_gateway(plain, sizeof plain - 1, err, sizeof err, a3), MAILGW_EX_DATAERR);
    assert_non_null(strstr(err, "no attachment of a type faxfs can send (PDF, PostScript, TIFF, PNG, JPEG)"));
    /* Larger than --max-size: 65. */
    const char *a4[] = {"--mount", mount, "--map", map, "--sender", "ada@example.org", "--max-size", "1024",
                        "--", "5551234@fax", NULL};
    char *big = malloc(4096);
    assert_non_null(big);
    memset(big, 'x', 4096);
    assert_int_equal(run_gateway(big, 4096, err, sizeof err, a4), MAILGW_EX_DATAERR);
    assert_non_null(strstr(err, "--max-size"));
    free(big);
    /* The mount is not there: 75, the MTA keeps the mail and retries. */
    assert_int_equal(run_gateway(msg, mlen, err, sizeof err, a3), MAILGW_EX_TEMPFAIL);
    assert_non_null(strstr(err, "outbox"));
    /* Run as root, it writes to the mount as the mapped user (nobody), not
     * as root: a plain directory only root may write is refused (77) and
     * holds no draft afterwards. (As root it would have "submitted".) */
    if (geteuid() == 0) {
        char fake[400], outbox[420];
        snprintf(fake, sizeof fake, "%s/rootonly", dir);
        snprintf(outbox, sizeof outbox, "%s/outbox", fake);
        assert_int_equal(mkdir(fake, 0755), 0);
        assert_int_equal(mkdir(outbox, 0755), 0);
        assert_int_equal(chmod(dir, 0711), 0);
        const char *a6[] = {"--mount", fake, "--map", map, "--sender", "ada@example.org", "--", "5551234@fax", NULL};
        assert_int_equal(run_gateway(msg, mlen, err, sizeof err, a6), MAILGW_EX_NOPERM);
        assert_non_null(strstr(err, "Permission denied"));
        assert_int_equal(rmdir(outbox), 0); /* empty: no draft was made */
        assert_int_equal(chmod(dir, 0700), 0);
    }
    /* A map naming no user here: 75 (the admin fixes the map). */
    write_text(map, "ada@example.org faxfs-no-such-user-here\n", 0644);
    assert_int_equal(run_gateway(msg, mlen, err, sizeof err, a3), MAILGW_EX_TEMPFAIL);
    /* The map is missing: 75, never "unknown sender". */
    unlink(map);
    assert_int_equal(run_gateway(msg, mlen, err, sizeof err, a3), MAILGW_EX_TEMPFAIL);
    assert_non_null(strstr(err, "sender map"));
    /* Mapped to root: refused, 77. */
    write_text(map, "ada@example.org root\n", 0644);
    assert_int_equal(run_gateway(msg, mlen, err, sizeof err, a3), MAILGW_EX_NOPERM);
    /* --map twice (a sudoers-pinned command line cannot be overridden): 64. */
    const char *a5[] = {"--mount", mount, "--map", map, "--map", "/etc/passwd", "--sender", "ada@example.org",
                        "--", "5551234@fax", NULL};
    assert_int_equal(run_gateway(msg, mlen, err, sizeof err, a5), MAILGW_EX_USAGE);
    free(msg);
}

/* ---- MIME ---- */

static void test_parse_own_builder(void **state)
{
    (void)state;
    static const char pdf[] = "%PDF-1.4\nbody\n%%EOF\n";
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDRdata";
    static const char tif[] = "II*\0\x08\0\0\0tiffdata";
    static const char csv[] = "a,b\n1,2\n";
    int fds[5] = {memfile(pdf, sizeof pdf - 1), memfile(csv, sizeof csv - 1), memfile(png, sizeof png - 1),
                  memfile(pdf, sizeof pdf - 1), memfile(tif, sizeof tif - 1)};
    struct mail_attachment att[5] = {
        {"application/pdf", "one.pdf", fds[0]},
        {"text/csv", "data.csv", fds[1]},
        {NULL, "two.png", fds[2]},              /* octet-stream: the magic decides */
        {"image/jpeg", "liar.jpg", fds[3]},     /* a PDF that says it is a JPEG: not a document */
        {"image/tiff", "three.tif", fds[4]},
    };
    const char *to[] = {"5551234@fax.example.org"};
    struct mail_message mm = {.from = "ada@example.org", .to = to, .nto = 1,
                              .subject = "Für Frau Müller\r\nBcc: x@y", .text = "Grüße,\r\nzwei Zeilen.\n\n\n",
                              .attachments = att, .nattachments = 5};
    int out = memfd_create("msg", MFD_CLOEXEC);
    char why[256];
    assert_int_equal(mail_message_write(&mm, out, why, sizeof why), 0);
    struct mailgw_msg *m = calloc(1, sizeof *m);
    assert_non_null(m);
    assert_int_equal(mailgw_parse(out, 20, m, why, sizeof why), 0);
    assert_int_equal(m->ndocs, 3);
    assert_string_equal(m->docs[0].ext, "pdf");
    assert_string_equal(m->docs[1].ext, "png");
    assert_string_equal(m->docs[2].ext, "tif");
    size_t len;
    char *b = fd_bytes(m->docs[1].fd, &len);
    assert_int_equal(len, sizeof png - 1);
    assert_memory_equal(b, png, len);
    free(b);
    assert_int_equal(m->docs[0].size, sizeof pdf - 1);
    assert_string_equal(m->cover, "Grüße,\nzwei Zeilen.");
    assert_null(strchr(m->name, '\n'));
    assert_non_null(strstr(m->name, "Für Frau Müller"));
    mailgw_msg_free(m);

    /* Bounded: two documents allowed, three sent. */
    assert_int_equal(mailgw_parse(out, 2, m, why, sizeof why), -E2BIG);
    assert_non_null(strstr(why, "--max-attachments"));
    assert_int_equal(m->ndocs, 0);
    free(m);
    close(out);
    for (int i = 0; i < 5; i++)
        close(fds[i]);
}

static int open_fixture(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static void test_parse_qp_alternative(void **state)
{
    (void)state;
    struct mailgw_msg *m = calloc(1, sizeof *m);
    char why[256];
    int fd = open_fixture("qp_alternative.eml");
    assert_int_equal(mailgw_parse(fd, 20, m, why, sizeof why), 0);
    assert_string_equal(m->name, "Müller – Büro");
    /* The text/plain of the alternative, quoted-printable decoded, the
     * soft line break joined; not the HTML. */
    assert_string_equal(m->cover, "Grüße aus dem Büro, \nthe notes you asked for. This line is long enough to "
                                  "be folded by a soft line break.");
    assert_int_equal(m->ndocs, 2);
    assert_string_equal(m->docs[0].ext, "pdf");
    assert_string_equal(m->docs[1].ext, "png");
    size_t len;
    char *b = fd_bytes(m->docs[0].fd, &len);
    assert_true(len > 20 && memcmp(b, "%PDF-1.4\n% fixture\n", 19) == 0);
    assert_memory_equal(b + len - 6, "%%EOF\n", 6);
    free(b);
    mailgw_msg_free(m);
    close(fd);
    free(m);
}

static void test_parse_html_related(void **state)
{
    (void)state;
    struct mailgw_msg *m = calloc(1, sizeof *m);
    char why[256];
    int fd = open_fixture("html_related.eml");
    assert_int_equal(mailgw_parse(fd, 20, m, why, sizeof why), 0);
    assert_string_equal(m->name, "plain subject");
    /* The HTML's text (ISO-8859-1 made UTF-8), no style, no tags; the
     * inline logo with a Content-ID is no document, the attached JPEG is. */
    assert_string_equal(m->cover, "Grüße & more\nBye");
    assert_int_equal(m->ndocs, 2);
    assert_string_equal(m->docs[0].ext, "ps");
    assert_string_equal(m->docs[1].ext, "jpg");
    mailgw_msg_free(m);
    close(fd);
    free(m);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    struct mailgw_msg *m = calloc(1, sizeof *m);
    char why[256];
    /* A PDF posing as a PNG and a CSV: nothing to send. */
    int fd = open_fixture("no_document.eml");
    assert_int_equal(mailgw_parse(fd, 20, m, why, sizeof why), -ENOMSG);
    assert_string_equal(why, "no attachment of a type faxfs can send (PDF, PostScript, TIFF, PNG, JPEG)");
    close(fd);
    /* A message that is one PDF, no multipart: that PDF, no cover. */
    fd = open_fixture("single_part.eml");
    assert_int_equal(mailgw_parse(fd, 20, m, why, sizeof why), 0);
    assert_int_equal(m->ndocs, 1);
    assert_string_equal(m->docs[0].ext, "pdf");
    assert_string_equal(m->cover, "");
    mailgw_msg_free(m);
    close(fd);
    /* Empty input and binary noise: refused, nothing kept. */
    fd = memfile("", 0);
    int rc = mailgw_parse(fd, 20, m, why, sizeof why);
    assert_true(rc == -EBADMSG || rc == -ENOMSG);
    assert_int_equal(m->ndocs, 0);
    close(fd);
    static const char noise[] = "\x01\x02\xff\xfe\0\0garbage\n\n\x7f";
    fd = memfile(noise, sizeof noise - 1);
    rc = mailgw_parse(fd, 20, m, why, sizeof why);
    assert_true(rc == -EBADMSG || rc == -ENOMSG);
    assert_int_equal(m->ndocs, 0);
    close(fd);
    free(m);
}

static int setup_dir(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_from_address), cmocka_unit_test(test_sender_map),
        cmocka_unit_test(test_exit_codes),          cmocka_unit_test(test_program_exit_codes),
        cmocka_unit_test(test_parse_own_builder),   cmocka_unit_test(test_parse_qp_alternative),
        cmocka_unit_test(test_parse_html_related),  cmocka_unit_test(test_parse_refusals),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
