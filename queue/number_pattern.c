/*
 * number_pattern.c - matching phone numbers against patterns
 * (number_pattern.h has the syntax).
 */
#include "queue/number_pattern.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int number_pattern_check(const char *pattern, char *why, size_t whylen)
{
    size_t n = strlen(pattern);
    if (n == 0 || n >= NUMBER_PATTERN_MAX) {
        snprintf(why, whylen, "a number pattern has 1 to %d characters", NUMBER_PATTERN_MAX - 1);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char c = pattern[i];
        if ((c >= '0' && c <= '9') || c == 'X' || c == 'x')
            continue;
        if (c == '+' && i == 0 && n > 1)
            continue;
        if (c == '*' && i == n - 1)
            continue;
        snprintf(why, whylen,
                 "'%s' is not a number pattern: use digits, X for any digit, a leading + and a final * "
                 "(e.g. +4420*, 555XXXX, *)",
                 pattern);
        return -EINVAL;
    }
    return 0;
}

bool number_pattern_matches(const char *pattern, const char *number)
{
    char why[8];
    if (number_pattern_check(pattern, why, sizeof why) != 0)
        return false;
    const char *p = pattern, *s = number;
    for (; *p; p++, s++) {
        if (*p == '*')
            return true;
        if (*s == '\0')
            return false;
        if (*p == 'X' || *p == 'x') {
            if (*s < '0' || *s > '9')
                return false;
        } else if (*p != *s) {
            return false;
        }
    }
    return *s == '\0';
}

int number_pattern_literals(const char *pattern)
{
    int n = 0;
    for (const char *p = pattern; *p; p++)
        n += (*p >= '0' && *p <= '9') || *p == '+';
    return n;
}
