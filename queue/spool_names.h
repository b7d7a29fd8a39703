/*
 * spool_names.h - how the file spool writes job ids: job directories and
 * the id counter hold them in plain decimal. The backend (spool.c) and the
 * checker (spool_check.c) read them through these, so both agree on what a
 * job's name is.
 */
#ifndef FAXFS_QUEUE_SPOOL_NAMES_H
#define FAXFS_QUEUE_SPOOL_NAMES_H

#include <stdbool.h>
#include <stdint.h>

/* Leading decimal digits of a name as an id; 0 when there are none. exact:
 * nothing else follows and there is no leading zero. */
uint64_t spool_name_id(const char *name, bool *exact);

/* qsort/bsearch order of uint64_t ids. */
int spool_id_cmp(const void *a, const void *b);

#endif
