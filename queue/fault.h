/*
 * fault.h - named fault-injection points in the queue's write paths, for
 * crash and disk-error tests. Compiled in only with FAXFS_FAULT_INJECTION;
 * otherwise FAULT_POINT() is the constant 0 and no trace remains.
 * The points and the FAXFS_FAULT syntax are listed in docs/reliability.md.
 */
#ifndef FAXFS_QUEUE_FAULT_H
#define FAXFS_QUEUE_FAULT_H

#ifdef FAXFS_FAULT_INJECTION

/* Counts a hit of point; returns 0 to go on, or -ENOSPC / -EIO when the
 * operation must fail there. A "kill" fault never returns (SIGKILL). */
int fault_hit(const char *point);

/* Replaces the faults in effect (FAXFS_FAULT syntax; NULL or "" clears
 * them) and resets the hit counters. Tests use this instead of the
 * environment. Returns 0 or -EINVAL for a malformed spec. */
int fault_configure(const char *spec);

/* Hits of point since the last fault_configure(), for tests. */
unsigned long fault_hits(const char *point);

#define FAULT_POINT(point) fault_hit(point)

#else

/* Call sites in statement position write (void)FAULT_POINT(...). */
#define FAULT_POINT(point) 0

#endif

#endif
