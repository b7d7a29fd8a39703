/*
 * fuzz_mail.c - libFuzzer target for the mail builder with hostile text in
 * every field that may come from outside: display name, subject, an extra
 * header's value, a file name, the body, and a sender address. Whatever
 * the input, a message that is written parses back (GMime) with exactly
 * the headers the builder sets, one recipient, the text part and the
 * attachment with its bytes intact, and no line over 998 octets.
 */
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/mail_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const allowed[] = {
    "Date", "From", "To", "Subject", "Message-Id", "X-Faxfs-Caller", "MIME-Version", "Content-Type",
};

/* The next NUL-terminated field of the input (all of the rest if none). */
static char *field(const uint8_t **data, size_t *size)
{
    const uint8_t *end = *size ? memchr(*data, '\0', *size) : NULL;
    size_t n = end ? (size_t)(end - *data) : *size;
    char *s = malloc(n + 1);
    if (n)
        memcpy(s, *data, n);
    s[n] = '\0';
    *data += end ? n + 1 : n;
    *size -= end ? n + 1 : n;
    return s;
}

static void check(int fd, const char *from, const char *blob, size_t bloblen)
{
    off_t len = lseek(fd, 0, SEEK_END);
    char *raw = malloc((size_t)len + 1);
    if (pread(fd, raw, (size_t)len, 0) != len)
        abort();
    raw[len] = '\0';
    size_t col = 0;
    for (off_t i = 0; i < len; i++) {
        col = raw[i] == '\n' ? 0 : col + 1;
        if (col > 998 || raw[i] == '\r' || raw[i] == '\0')
            abort();
    }
    free(raw);

    int d = dup(fd);
    lseek(d, 0, SEEK_SET);
    GMimeStream *s = g_mime_stream_fs_new(d);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    if (!m)
        abort();
    GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
    for (int i = 0; i < g_mime_header_list_get_count(hl); i++) {
        const char *name = g_mime_header_get_name(g_mime_header_list_get_header_at(hl, i));
        size_t k = 0;
        while (k < sizeof allowed / sizeof allowed[0] && g_ascii_strcasecmp(name, allowed[k]) != 0)
            k++;
        if (k == sizeof allowed / sizeof allowed[0])
            abort(); /* a header the builder did not set */
    }
    InternetAddressList *all = g_mime_message_get_all_recipients(m);
    if (!all || internet_address_list_length(all) != 1)
        abort();
    g_object_unref(all);
    if (from) {
        InternetAddressList *fl = g_mime_message_get_from(m);
        if (internet_address_list_length(fl) != 1)
            abort();
        /* GMime shows an IDN domain decoded; its ASCII form is what was
         * written. */
        const char *got = internet_address_mailbox_get_idn_addr(
            INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(fl, 0)));
        if (strcmp(got, from) != 0)
            abort();
    }
    GMimeObject *body = g_mime_message_get_mime_part(m);
    if (!GMIME_IS_MULTIPART(body) || g_mime_multipart_get_count(GMIME_MULTIPART(body)) != 2)
        abort();
    GMimeObject *att = g_mime_multipart_get_part(GMIME_MULTIPART(body), 1);
    if (!GMIME_IS_PART(att))
        abort();
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(att)), mem);
    GByteArray *a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    if (a->len != bloblen || (bloblen && memcmp(a->data, blob, bloblen) != 0))
        abort();
    g_object_unref(mem);
    g_object_unref(m);
    g_object_unref(p);
    g_object_unref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name = field(&data, &size), *subject = field(&data, &size), *caller = field(&data, &size);
    char *fname = field(&data, &size), *from = field(&data, &size), *text = field(&data, &size);
    size_t hlen = strlen(caller) + 20;
    char *header = malloc(hlen);
    snprintf(header, hlen, "X-Faxfs-Caller: %s", caller);
    const char *extra[] = {header};
    const char *to[] = {"alice@fax.localhost"};
    int blob = memfd_create("fuzz-att", MFD_CLOEXEC), out = memfd_create("fuzz-mail", MFD_CLOEXEC);
    if (blob < 0 || out < 0)
        abort();
    size_t textlen = strlen(text);
    if (textlen && write(blob, text, textlen) != (ssize_t)textlen)
        abort();
    struct mail_attachment att = {"application/pdf", fname, blob};
    const char *sender = mail_address_ok(from) ? from : NULL;
    struct mail_message m = {
        .from = sender, .from_name = name, .to = to, .nto = 1, .subject = subject, .text = text,
        .attachments = &att, .nattachments = 1, .extra_headers = extra, .nextra = 1,
        .message_id = "faxfs.1.0@fuzz.example",
    };
    char why[256];
    int r = mail_message_write(&m, out, why, sizeof why);
    if (r == 0)
        check(out, sender, text, textlen);
    else if (lseek(out, 0, SEEK_END) != 0)
        abort(); /* refused, yet written */
    close(blob);
    close(out);
    free(header);
    free(name), free(subject), free(caller), free(fname), free(from), free(text);
    return 0;
}
