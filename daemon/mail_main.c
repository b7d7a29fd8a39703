/*
 * faxfs-mail - the mail-to-fax gateway, run by the MTA's pipe transport:
 *
 *   faxfs-mail --mount /mnt/fax --map /etc/faxfs/mail-senders \
 *              --sender SENDER --recipient NUMBER@DOMAIN... < message
 *
 * Started as root (Postfix's pipe runs it as an unprivileged user through
 * sudo, docs/mail.md), it reads the message into memory (bounded), looks
 * the sender up in the root-owned map, and then becomes the mapped user
 * for good (setgroups, setgid, setuid) before it reads a byte of MIME: the
 * message is parsed with GMime and the fax submitted through the mount as
 * that user, one draft (a broadcast for several numbers), exactly as the user's own mkdir/cp/echo
 * would, so every check of the daemon applies and the job is the user's.
 * Started as an ordinary user it submits only for senders mapped to that
 * user. Exit codes follow sysexits(3); one line on stderr says why.
 */
#include "daemon/mail_gateway.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_RECIPIENTS 50

static int die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("faxfs-mail: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static void usage(FILE *f)
{
    fputs("usage: faxfs-mail --mount DIR --map FILE --sender ADDRESS [--] NUMBER@DOMAIN...\n"
          "                  [--max-size BYTES] [--max-attachments N] < message\n"
          "The mail-to-fax gateway for the MTA's pipe transport (docs/mail.md).\n"
          "  --mount DIR          the mounted faxfs (its outbox/ takes the drafts)\n"
          "  --map FILE           sender map: \"ADDRESS USER\" or \"@DOMAIN USER\" lines\n"
          "  --sender ADDRESS     the envelope sender (Postfix: ${sender})\n"
          "  --recipient ADDR     NUMBER@DOMAIN (or after --; Postfix: -- ${recipient})\n"
          "  --max-size BYTES     largest message read (default 20971520, 20 MiB)\n"
          "  --max-attachments N  most documents in one message (default 20, at most 100)\n"
          "Exit: 0 submitted, 65 no document/unreadable, 67 unknown sender or bad number,\n"
          "69 other refusal, 75 try again later, 77 number refused by the dial rules.\n",
          f);
}

/* The message on stdin into a memory file; EX_DATAERR past max bytes. */
static int read_message(size_t max)
{
    int fd = memfd_create("faxfs-mail-message", MFD_CLOEXEC);
    if (fd < 0)
        die(MAILGW_EX_TEMPFAIL, "cannot make a memory file: %s", strerror(errno));
    char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t k = read(STDIN_FILENO, buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            die(MAILGW_EX_TEMPFAIL, "cannot read the message: %s", strerror(errno));
        if (k == 0)
            break;
        total += (size_t)k;
        if (total > max)
            die(MAILGW_EX_DATAERR, "the message is larger than %zu bytes (--max-size)", max);
        for (ssize_t done = 0; done < k;) {
            ssize_t w = write(fd, buf + done, (size_t)(k - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                die(MAILGW_EX_TEMPFAIL, "cannot keep the message: %s", strerror(errno));
            done += w;
        }
    }
    return fd;
}

static size_t parse_size(const char *s, const char *opt, size_t lo, size_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        die(MAILGW_EX_USAGE, "%s takes a number from %zu to %zu, not \"%s\"", opt, lo, hi, s);
    return (size_t)v;
}

int main(int argc, char **argv)
{
    const char *mount = NULL, *map = NULL, *sender = NULL;
    const char *rcpts[MAX_RECIPIENTS];
    size_t nrcpt = 0, max_size = 20u << 20, max_docs = 20;
    static const struct option opts[] = {
        {"mount", required_argument, NULL, 'm'},      {"map", required_argument, NULL, 'p'},
        {"sender", required_argument, NULL, 's'},     {"recipient", required_argument, NULL, 'r'},
        {"max-size", required_argument, NULL, 'z'},   {"max-attachments", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        /* Each option once: a command line pinned by sudoers cannot be
         * overridden by a second --map or --mount appended to it. */
        const char **slot = c == 'm' ? &mount : c == 'p' ? &map : c == 's' ? &sender : NULL;
        if (slot) {
            if (*slot)
                die(MAILGW_EX_USAGE, "--%s given twice", c == 'm' ? "mount" : c == 'p' ? "map" : "sender");
            *slot = optarg;
        } else if (c == 'r') {
            if (nrcpt == MAX_RECIPIENTS)
                die(MAILGW_EX_USAGE, "more than %d recipients in one call", MAX_RECIPIENTS);
            rcpts[nrcpt++] = optarg;
        } else if (c == 'z') {
            max_size = parse_size(optarg, "--max-size", 1024, (size_t)1 << 30);
        } else if (c == 'a') {
            max_docs = parse_size(optarg, "--max-attachments", 1, MAILGW_DOCS_LIMIT);
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return MAILGW_EX_USAGE;
        }
    }
    /* Recipients as arguments, best after "--" (Postfix: argv=... --
     * ${recipient}, which expands to one argument per recipient), so that
     * no address is ever taken for an option. */
    for (; optind < argc; optind++) {
        if (nrcpt == MAX_RECIPIENTS)
            die(MAILGW_EX_USAGE, "more than %d recipients in one call", MAX_RECIPIENTS);
        rcpts[nrcpt++] = argv[optind];
    }
    if (!mount || !map || !sender || nrcpt == 0) {
        usage(stderr);
        return MAILGW_EX_USAGE;
    }

    char why[1024];
    char numbers[MAX_RECIPIENTS][MAILGW_NUMBER_MAX];
    for (size_t i = 0; i < nrcpt; i++)
        if (mailgw_number(rcpts[i], numbers[i], sizeof numbers[i], why, sizeof why) != 0)
            die(MAILGW_EX_NOUSER, "%s: %s", rcpts[i], why);

    int msgfd = read_message(max_size);

    uid_t me = geteuid();
    char user[MAILGW_USER_MAX];
    int rc = mailgw_map_lookup(map, me == 0, sender, user, sizeof user, why, sizeof why);
    if (rc == -ENOENT || rc == -EINVAL)
        die(MAILGW_EX_NOUSER, "%s", why);
    if (rc != 0)
        die(MAILGW_EX_TEMPFAIL, "%s (fix the sender map; the mail stays queued)", why);
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw)
        die(MAILGW_EX_TEMPFAIL, "the sender map names %s, who is no user here (fix the sender map)", user);
    if (pw->pw_uid == 0)
        die(MAILGW_EX_NOPERM, "the sender map maps %s to root: faxes by mail are never root's", sender);
    if (me == 0) {
        if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            die(MAILGW_EX_TEMPFAIL, "cannot become %s: %s", user, strerror(errno));
        if (setuid(0) == 0 || geteuid() == 0)
            die(MAILGW_EX_SOFTWARE, "still root after becoming %s", user);
    } else if (pw->pw_uid != me) {
        die(MAILGW_EX_TEMPFAIL, "%s maps to %s, but faxfs-mail runs as uid %u and cannot act for another "
            "user (run it as root through sudo, docs/mail.md)", sender, user, (unsigned)me);
    }

    /* From here on the mapped user: the MIME parser and the mount see
     * nothing more than that user may. */
    struct mailgw_msg *m = calloc(1, sizeof *m);
    if (!m)
        die(MAILGW_EX_TEMPFAIL, "out of memory");
    rc = mailgw_parse(msgfd, max_docs, m, why, sizeof why);
    if (rc == -EBADMSG || rc == -ENOMSG || rc == -E2BIG)
        die(MAILGW_EX_DATAERR, "%s", why);
    if (rc != 0)
        die(MAILGW_EX_TEMPFAIL, "%s", why);
    close(msgfd);

    /* One draft: several numbers make it a broadcast, one group of jobs
     * submitted all at once or not at all. Its name is unique over time
     * too: a draft left by a killed run (it expires with
     * --draft-expire-days) never makes a later mail fail. */
    char draft[64];
    const char *nums[MAX_RECIPIENTS];
    enum mailgw_stage stage;
    for (size_t i = 0; i < nrcpt; i++)
        nums[i] = numbers[i];
    snprintf(draft, sizeof draft, "mail-%lld-%ld", (long long)time(NULL), (long)getpid());
    rc = mailgw_submit(mount, draft, nums, nrcpt, m, &stage, why, sizeof why);
    if (rc != 0)
        die(mailgw_exit_code(rc, stage), "%s", why);
    mailgw_msg_free(m);
    free(m);
    return 0;
}
