/*
 * mail_gateway.h - the parts of faxfs-mail (the mail-to-fax gateway run
 * by the MTA's pipe transport): the fax number in a recipient address,
 * the map of sender addresses to local users, the MIME message read with
 * GMime into documents and a cover text, the submission through the
 * mounted outbox as a draft, and the sysexits code of every refusal.
 * docs/mail.md, docs/security.md.
 */
#ifndef FAXFS_MAIL_GATEWAY_H
#define FAXFS_MAIL_GATEWAY_H

#include <stddef.h>

#define MAILGW_NUMBER_MAX 64
#define MAILGW_USER_MAX 64
#define MAILGW_NAME_MAX 120    /* recipient_name from the Subject, bytes */
#define MAILGW_COVER_MAX 1023  /* the draft's comment field */
#define MAILGW_DOCS_LIMIT 100  /* the most --max-attachments may allow */

/* Exit codes (sysexits.h), here so the tests need not include it. */
enum {
    MAILGW_EX_OK = 0,
    MAILGW_EX_USAGE = 64,
    MAILGW_EX_DATAERR = 65,
    MAILGW_EX_NOUSER = 67,
    MAILGW_EX_UNAVAILABLE = 69,
    MAILGW_EX_SOFTWARE = 70,
    MAILGW_EX_TEMPFAIL = 75,
    MAILGW_EX_NOPERM = 77,
};

/* Where a submission failed: decides the exit code of an errno. */
enum mailgw_stage {
    MAILGW_AT_DRAFT,   /* mkdir outbox/NAME, the fields but the number */
    MAILGW_AT_NUMBER,  /* writing recipient_number */
    MAILGW_AT_DOCUMENT,/* writing a document */
    MAILGW_AT_SUBMIT,  /* echo submit > ctl */
};

struct mailgw_doc {
    int fd;          /* a memfd with the decoded bytes, offset 0 */
    const char *ext; /* "pdf", "ps", "tif", "png", "jpg" */
    size_t size;
};

struct mailgw_msg {
    char name[MAILGW_NAME_MAX + 1];   /* from the Subject, printable; "" none */
    char cover[MAILGW_COVER_MAX + 1]; /* the body's text; "" none */
    struct mailgw_doc docs[MAILGW_DOCS_LIMIT];
    size_t ndocs;
};

/* The fax number in a recipient address NUMBER@DOMAIN: the local part,
 * of digits with an optional leading '+' and '-', '.', ',' between them
 * (as a draft's recipient_number takes them; the dial rules judge the
 * number at submit). 0, or -EINVAL with a sentence in why. */
int mailgw_number(const char *rcpt, char *out, size_t len, char *why, size_t whylen);

/* Looks sender up in the map at path: lines "ADDRESS USER" or "@DOMAIN
 * USER", '#' comments; addresses compare without regard to case; an exact
 * address wins over its domain. 0 and the user in user; -ENOENT for an
 * unknown sender; -EINVAL for a sender that is no plain address; -EIO
 * when the map cannot be opened; -EPERM when it is no regular file, or
 * when require_root_owned and the map
 * is not a regular file owned by root, writable by root only. */
int mailgw_map_lookup(const char *path, int require_root_owned, const char *sender, char *user,
                      size_t userlen, char *why, size_t whylen);

/* Reads the MIME message in fd (from offset 0) with GMime: the documents
 * of the accepted types in order (their magic bytes decide the type; a
 * declared type that names another accepted type or none of them is not
 * a document), the first text/plain part that is not an attachment (or
 * the text of a text/html part) as cover text, the Subject as name. 0;
 * -EBADMSG (unreadable), -ENOMSG (no document), -E2BIG (more than
 * max_docs documents), with why. The caller frees with mailgw_msg_free. */
int mailgw_parse(int fd, size_t max_docs, struct mailgw_msg *m, char *why, size_t whylen);
void mailgw_msg_free(struct mailgw_msg *m);

/* Submits one draft named draft in MOUNT/outbox as the calling user:
 * mkdir, recipient_number and recipient_name (one number) or a
 * `recipients` file of "NUMBER<TAB>NAME" lines (several: a broadcast, one
 * group of jobs, all or none), cover and comment, the documents 01.EXT,
 * 02.EXT..., then "submit" to ctl. On failure the draft is removed,
 * *stage says where (a number the daemon refused in the recipients file
 * is MAILGW_AT_NUMBER), why has the reason (the draft's error file when
 * submit failed). 0 or -errno. */
int mailgw_submit(const char *mount, const char *draft, const char *const *numbers, size_t nnumbers,
                  const struct mailgw_msg *m, enum mailgw_stage *stage, char *why, size_t whylen);

/* The sysexits code for a failed submission (err is -errno). */
int mailgw_exit_code(int err, enum mailgw_stage stage);

#endif
