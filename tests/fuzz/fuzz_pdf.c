/*
 * fuzz_pdf.c - libFuzzer target for pdf_write_fax(): the bytes are one
 * page file as the spool could hold it. The writer reads only pages faxfs
 * stored itself, but a received page's image data is the remote's and its
 * TIFF wrapper the modem's, so the writer must refuse anything else
 * cleanly. A PDF written must be whole; a refusal must give a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/pdf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256] = "", tail[6];
    int page = memfd_create("page", MFD_CLOEXEC), out = memfd_create("pdf", MFD_CLOEXEC);
    struct stat st;

    if (page < 0 || out < 0 || write(page, data, size) != (ssize_t)size)
        goto done;
    int r = pdf_write_fax(&page, 1, out, why, sizeof why);
    if (r != 0 && why[0] == '\0')
        abort();
    if (r == 0 && (fstat(out, &st) != 0 || st.st_size < 6 ||
                   pread(out, tail, sizeof tail, st.st_size - 6) != 6 || memcmp(tail, "%%EOF\n", 6) != 0))
        abort();
done:
    if (page >= 0)
        close(page);
    if (out >= 0)
        close(out);
    return 0;
}
