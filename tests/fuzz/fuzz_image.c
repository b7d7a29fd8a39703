/*
 * fuzz_image.c - libFuzzer target for the in-process picture decoders:
 * PNG and JPEG bytes decoded to a grey raster and, when small, fitted onto
 * a fax page. Must never crash, leak or allocate beyond the size limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "queue/image.h"
#include "queue/raster.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct grey_image img;
    char why[256];
    int fd = memfd_create("image", MFD_CLOEXEC);

    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size || size < 1) {
        close(fd);
        return 0;
    }
    int r = data[0] == 0xff ? image_decode_jpeg(fd, &img, why, sizeof why) : image_decode_png(fd, &img, why, sizeof why);
    close(fd);
    if (r != 0)
        return 0;
    if ((uint64_t)img.width * img.height <= 1u << 20) {
        int out = memfd_create("page", MFD_CLOEXEC);
        uint64_t bytes = 0;
        if (out >= 0 && raster_write_fax_page(&img, 2, out, &bytes) == 0 && bytes == 0)
            abort(); /* a written page has bytes */
    }
    grey_image_free(&img);
    return 0;
}
