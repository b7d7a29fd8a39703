/*
 * fuzz_recipients.c - libFuzzer target for queue_parse_recipients(): the
 * bytes are a broadcast draft's recipients file, written by any user. A
 * parse either gives 1..max entries, each a number of the allowed form
 * and a name without control characters, in line order, or refuses with
 * a reason and nothing allocated.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Terminated within its field, no control characters but tabs inside a
 * name (only its edges are trimmed). */
static void check_text(const char *s, size_t max, bool tabs)
{
    size_t n = strnlen(s, max);
    if (n == max)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && !(tabs && s[i] == '\t'))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct queue_recipient *v = NULL;
    size_t n = 0, lines = 1, max = size > 0 ? 1 + data[0] % 64 : 1;
    int bad = -1;
    char why[256] = "";

    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    int r = queue_parse_recipients((const char *)data, size, max, &v, &n, &bad, why, sizeof why);
    if (r != 0) {
        if ((r != -EINVAL && r != -E2BIG && r != -ENOMEM) || why[0] == '\0' || v != NULL || n != 0 || bad < 0 ||
            (size_t)bad > lines)
            abort();
        return 0;
    }
    if (v == NULL || n == 0 || n > max || why[0] != '\0')
        abort();
    int last = 0;
    for (size_t i = 0; i < n; i++) {
        check_text(v[i].number, sizeof v[i].number, false);
        check_text(v[i].name, sizeof v[i].name, true);
        if (v[i].number[0] == '\0' || strpbrk(v[i].number, "0123456789") == NULL)
            abort();
        if (v[i].line <= last || (size_t)v[i].line > lines)
            abort();
        last = v[i].line;
    }
    free(v);
    return 0;
}
