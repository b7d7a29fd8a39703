/*
 * mail_message.h - every mail faxfs sends is built here, with GMime: a
 * MIME message with a text part and attachments, written to an fd.
 * Values that come from outside (a caller's number or station id, a
 * user's name, a file name) go into headers only encoded and stripped of
 * control characters, so they can never add a header or a MIME part.
 */
#ifndef FAXFS_MAIL_MESSAGE_H
#define FAXFS_MAIL_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

/* Longest header value kept (subject, display name, extra header, file
 * name), in bytes; longer values are cut at a character boundary. */
#define MAIL_HEADER_VALUE_MAX 400
/* Room for a Message-ID made by mail_message_id(). */
#define MAIL_MESSAGE_ID_MAX 256

struct mail_attachment {
    const char *content_type; /* "application/pdf"; NULL: application/octet-stream */
    const char *filename;     /* UTF-8, any characters (RFC 2231 when not ASCII); a
                                 path is cut to its last component; NULL: none */
    int fd;                   /* a regular file (or memfd): its bytes from offset 0
                                 to the end, sent base64; the fd's offset moves */
};

struct mail_message {
    const char *from;               /* addr-spec ("fax@example.net"); NULL: no From
                                       header, the MTA adds one for its user */
    const char *from_name;          /* display name for from (UTF-8, may come from
                                       outside); NULL: none */
    const char *const *to;          /* addr-specs (mail_address_ok), nto >= 1 */
    size_t nto;
    const char *subject;            /* UTF-8 (RFC 2047 encoded when not ASCII); NULL: "" */
    const char *message_id;         /* "left@right", with or without <>; NULL: none
                                       (the MTA adds one) */
    const char *text;               /* the text/plain part, UTF-8; NULL: "" */
    const struct mail_attachment *attachments;
    size_t nattachments;
    const char *const *extra_headers; /* "Name: value": Name is a plain header name
                                         that is none of the headers set above nor a
                                         Content-* header; value may come from outside */
    size_t nextra;
};

/* Writes the message (LF line ends, as sendmail reads it) to out_fd at its
 * current offset. Date is now. 0, or -errno with a sentence in why:
 * -EINVAL for a refused address, Message-ID or extra header (nothing is
 * written), -EIO or the write's errno when out_fd fails, -errno when an
 * attachment's fd cannot be read. */
int mail_message_write(const struct mail_message *m, int out_fd, char *why, size_t whylen);

/* A Message-ID for delivery number index of job job_id from this host:
 * "faxfs.JOB.INDEX@HOST" (without <>). The same inputs give the same id,
 * so a repeated delivery is recognisably the same mail. host is cut to
 * letters, digits, '-' and '.'; NULL or empty: "localhost". */
void mail_message_id(char *out, size_t len, uint64_t job_id, int index, const char *host);

/* Whether s is a plain addr-spec we hand to sendmail as an argument:
 * local@domain, both RFC 5322 dot-atoms (letters, digits, !#$%&'*+-/=?^_`{|}~
 * and single inner dots: no spaces, quotes, brackets or control
 * characters), not starting with '-', at most 254 bytes. An unqualified
 * local part ("alice") is accepted. */
int mail_address_ok(const char *s);

#endif
