/*
 * number_pattern.h - patterns over phone numbers, one syntax for every
 * rule that picks numbers: outbound routes, dial rules' refusals,
 * per-destination controls, inbound routes by called or calling number.
 *
 *   +4420*      every number that starts with +4420
 *   555XXXX     seven digits starting with 555 (X: any one digit)
 *   5550101     exactly that number
 *   *           every number
 *
 * A pattern is an optional leading '+', then digits and X (or x), and may
 * end in '*' (any rest, also none). Nothing else: a pattern that is not
 * one is refused when the configuration is read.
 */
#ifndef FAXFS_QUEUE_NUMBER_PATTERN_H
#define FAXFS_QUEUE_NUMBER_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define NUMBER_PATTERN_MAX 64 /* characters, NUL included */

/* 0 when pattern is a valid pattern; -EINVAL with a sentence in why. */
int number_pattern_check(const char *pattern, char *why, size_t whylen);

/* Whether number (normalized: digits with an optional leading '+')
 * matches pattern. An invalid pattern matches nothing. */
bool number_pattern_matches(const char *pattern, const char *number);

/* How specific a matching pattern is, to explain a choice in logs and to
 * order rules: the count of literal characters. */
int number_pattern_literals(const char *pattern);

#endif
