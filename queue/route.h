/*
 * route.h - outbound routes over named lines, as pure functions: which
 * lines a number may go out on, in order, and which of them takes a call
 * now. No locks, no clock, no I/O (docs/lines.md).
 *
 *   route = +4420* trunk,backup     numbers starting +4420: trunk, else backup
 *   route = * backup                everything else: backup
 *
 * The first route whose pattern matches wins; a number no route matches
 * (and every number when there are no routes) may use every line, in
 * configuration order.
 */
#ifndef FAXFS_QUEUE_ROUTE_H
#define FAXFS_QUEUE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/number_pattern.h"

#define ROUTE_MAX_LINES 16   /* lines one route names */
#define LINE_NAME_MAX 32     /* a line's name, NUL included */

struct route {
    char pattern[NUMBER_PATTERN_MAX];
    int nlines;
    int lines[ROUTE_MAX_LINES]; /* indexes into the configured lines */
};

/* 0 when name is a valid line name (letters, digits, '-', '_', 1 to 31
 * characters); -EINVAL with a sentence in why. */
int route_check_line_name(const char *name, char *why, size_t whylen);

/* Parses "PATTERN LINE[,LINE...]" against the configured line names.
 * 0, or -EINVAL with a sentence naming the problem and the fix in why. */
int route_parse(const char *text, const char *const *line_names, int nlines, struct route *out, char *why,
                size_t whylen);

/* The lines number may use, in order of preference: written to order
 * (room for nlines entries); returns how many. */
int route_lines_for(const struct route *routes, int nroutes, int nlines, const char *number, int *order);

/* Which line of order takes a call now: the first at position from or
 * later that is usable and has a free channel. Returns its position in
 * order, or -1. *any_usable tells whether some line at from or later is
 * usable at all (when none is, waiting for a channel cannot help). */
int route_choose(const int *order, int n, int from, const bool *usable, const int *free_channels,
                 bool *any_usable);

#endif
