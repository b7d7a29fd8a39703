/*
 * clock.c - the two clocks of the view: wall time (shown as mtimes and kept
 * as expiry times) and monotonic milliseconds (how long ago a change was
 * announced, how long a released handle has been retired).
 */
#include "fs/internal.h"

#include <time.h>

int64_t fs_now(void)
{
    return (int64_t)time(NULL);
}

int64_t fs_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
