/*
 * fuzz_mail_gateway.c - libFuzzer target for faxfs-mail's reading of a
 * mail (GMime and what we make of its parts) and of a recipient address.
 * Every document found must start with the magic of its type, at most the
 * allowed number of documents, and the cover text and name hold no
 * control characters but the cover's LF and tab, within their bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/mail_gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t max, int lines)
{
    size_t n = strlen(s);
    if (n > max)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && !(lines && (c == '\n' || c == '\t'))) || c == 0x7f)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first line is also tried as a recipient address. */
    char addr[256], number[MAILGW_NUMBER_MAX], why[512];
    size_t k = 0;
    while (k < size && k < sizeof addr - 1 && data[k] != '\n')
        k++;
    memcpy(addr, data, k);
    addr[k] = '\0';
    if (mailgw_number(addr, number, sizeof number, why, sizeof why) == 0 &&
        (number[0] == '-' || strchr(number, '@') || strlen(number) >= MAILGW_NUMBER_MAX))
        abort();

    int fd = memfd_create("fuzz-mail", MFD_CLOEXEC);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
        abort();
    static struct mailgw_msg m;
    const size_t max_docs = 5;
    if (mailgw_parse(fd, max_docs, &m, why, sizeof why) == 0) {
        if (m.ndocs == 0 || m.ndocs > max_docs)
            abort();
        for (size_t i = 0; i < m.ndocs; i++) {
            unsigned char head[8] = {0};
            if (pread(m.docs[i].fd, head, sizeof head, 0) < 2)
                abort();
            const char *e = m.docs[i].ext;
            int ok = (!strcmp(e, "pdf") && !memcmp(head, "%PDF-", 5)) || (!strcmp(e, "ps") && !memcmp(head, "%!", 2)) ||
                     (!strcmp(e, "tif") && (!memcmp(head, "II*\0", 4) || !memcmp(head, "MM\0*", 4))) ||
                     (!strcmp(e, "png") && !memcmp(head, "\x89PNG\r\n\x1a\n", 8)) ||
                     (!strcmp(e, "jpg") && !memcmp(head, "\xff\xd8\xff", 3));
            if (!ok)
                abort();
        }
        check_text(m.cover, MAILGW_COVER_MAX, 1);
        check_text(m.name, MAILGW_NAME_MAX, 0);
        mailgw_msg_free(&m);
    } else if (m.ndocs != 0) {
        abort();
    }
    close(fd);
    return 0;
}
