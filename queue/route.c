/*
 * route.c - outbound routes over named lines (route.h).
 */
#include "queue/route.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int route_check_line_name(const char *name, char *why, size_t whylen)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n < LINE_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_';
    if (ok)
        return 0;
    snprintf(why, whylen, "'%.40s' is not a line name: use 1 to %d letters, digits, '-' or '_'", name,
             LINE_NAME_MAX - 1);
    return -EINVAL;
}

static int line_index(const char *name, size_t len, const char *const *names, int nlines)
{
    for (int i = 0; i < nlines; i++)
        if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0)
            return i;
    return -1;
}

int route_parse(const char *text, const char *const *line_names, int nlines, struct route *out, char *why,
                size_t whylen)
{
    memset(out, 0, sizeof *out);
    while (isspace((unsigned char)*text))
        text++;
    const char *sp = text;
    while (*sp && !isspace((unsigned char)*sp))
        sp++;
    size_t plen = (size_t)(sp - text);
    const char *list = sp;
    while (isspace((unsigned char)*list))
        list++;
    if (plen == 0 || !*list) {
        snprintf(why, whylen, "'%.80s' is not a route: write PATTERN LINE[,LINE...], e.g. '+4420* trunk,backup'",
                 text);
        return -EINVAL;
    }
    if (plen >= sizeof out->pattern) {
        snprintf(why, whylen, "the route's pattern is longer than %zu characters", sizeof out->pattern - 1);
        return -EINVAL;
    }
    memcpy(out->pattern, text, plen);
    out->pattern[plen] = '\0';
    if (number_pattern_check(out->pattern, why, whylen) != 0)
        return -EINVAL;
    const char *p = list;
    for (;;) {
        const char *end = p;
        while (*end && *end != ',' && !isspace((unsigned char)*end))
            end++;
        size_t len = (size_t)(end - p);
        int idx = len ? line_index(p, len, line_names, nlines) : -1;
        if (idx < 0) {
            snprintf(why, whylen, "route '%s': %s'%.*s'%s; define the line (--line NAME=SPEC or a [line NAME] "
                     "section) or name one of the lines defined", out->pattern, len ? "no line named " : "",
                     (int)(len ? len : 0), p, len ? "" : "an empty line name");
            return -EINVAL;
        }
        for (int i = 0; i < out->nlines; i++)
            if (out->lines[i] == idx) {
                snprintf(why, whylen, "route '%s' names the line %s twice; name each line once", out->pattern,
                         line_names[idx]);
                return -EINVAL;
            }
        if (out->nlines == ROUTE_MAX_LINES) {
            snprintf(why, whylen, "route '%s' names more than %d lines", out->pattern, ROUTE_MAX_LINES);
            return -EINVAL;
        }
        out->lines[out->nlines++] = idx;
        while (isspace((unsigned char)*end))
            end++;
        if (*end == '\0')
            break;
        if (*end != ',') {
            snprintf(why, whylen, "route '%s': separate its lines with commas, not spaces (e.g. trunk,backup)",
                     out->pattern);
            return -EINVAL;
        }
        p = end + 1;
        while (isspace((unsigned char)*p))
            p++;
    }
    return 0;
}

int route_lines_for(const struct route *routes, int nroutes, int nlines, const char *number, int *order)
{
    for (int r = 0; r < nroutes; r++) {
        if (!number_pattern_matches(routes[r].pattern, number))
            continue;
        int n = 0;
        for (int i = 0; i < routes[r].nlines; i++)
            if (routes[r].lines[i] >= 0 && routes[r].lines[i] < nlines)
                order[n++] = routes[r].lines[i];
        return n;
    }
    for (int i = 0; i < nlines; i++)
        order[i] = i;
    return nlines;
}

int route_choose(const int *order, int n, int from, const bool *usable, const int *free_channels,
                 bool *any_usable)
{
    *any_usable = false;
    for (int i = from < 0 ? 0 : from; i < n; i++) {
        if (!usable[order[i]])
            continue;
        *any_usable = true;
        if (free_channels[order[i]] > 0)
            return i;
    }
    return -1;
}
