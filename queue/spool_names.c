/*
 * spool_names.c - job ids as the file spool writes them (spool_names.h):
 * decimal names of job directories and of the counter, and their order.
 */
#include "queue/spool_names.h"

uint64_t spool_name_id(const char *name, bool *exact)
{
    uint64_t v = 0;
    const char *p = name;

    for (; *p >= '0' && *p <= '9' && v < UINT64_MAX / 10 - 9; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    *exact = *p == '\0' && p != name && name[0] != '0';
    return v;
}

int spool_id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
