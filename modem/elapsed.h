/*
 * elapsed.h - wall-clock time since a CLOCK_MONOTONIC instant, in
 * seconds: the one clock reading behind line timeouts and call durations.
 */
#ifndef FAXFS_MODEM_ELAPSED_H
#define FAXFS_MODEM_ELAPSED_H

#include <time.h>

static inline double elapsed_seconds(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (now.tv_nsec - since->tv_nsec) / 1e9;
}

#endif
