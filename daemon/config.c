/*
 * config.c - parses the configuration file into option words. Syntax:
 * `key = value` per line, blank lines ignored; a switch takes yes/no
 * (true/false, on/off, 1/0). `#` starts a comment only at the start of a
 * line or after white space, so `sip-password = ab#cd` keeps its `#`; a
 * value in double quotes keeps everything, with \" and \\ for a quote and
 * a backslash.
 */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Cuts line at its comment: a `#` at the start or after white space.
 * A value that opens with a double quote is skipped to its closing quote
 * first; a quote anywhere else is an ordinary character. */
static void strip_comment(char *line)
{
    char *p = line, *eq = strchr(line, '=');
    if (eq) {
        char *v = eq + 1;
        while (isspace((unsigned char)*v))
            v++;
        p = v;
        if (*v == '"')
            for (p = v + 1; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
        for (char *c = line; c < eq; c++) /* a comment before the = */
            if (*c == '#' && (c == line || isspace((unsigned char)c[-1]))) {
                *c = '\0';
                return;
            }
    }
    for (; *p; p++)
        if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            return;
        }
}

/* A value in double quotes loses them and its escapes, in place. Returns
 * 0, or -1 when the quotes are not closed or text follows them. */
static int unquote(char *v)
{
    if (*v != '"')
        return 0;
    char *out = v;
    for (char *p = v + 1; *p; p++) {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
            *out++ = *++p;
        } else if (*p == '"') {
            *out = '\0';
            return p[1] == '\0' ? 0 : -1;
        } else {
            *out++ = *p;
        }
    }
    return -1;
}

static int parse_switch(const char *v)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

static int add_word(struct config_words *w, const char *key, const char *value)
{
    char **v = realloc(w->words, (size_t)(w->count + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    w->words = v;
    size_t len = strlen(key) + (value ? strlen(value) + 1 : 0) + 3;
    char *word = malloc(len);
    if (!word)
        return -ENOMEM;
    snprintf(word, len, "--%s%s%s", key, value ? "=" : "", value ? value : "");
    w->words[w->count++] = word;
    return 0;
}

int config_read(const char *path, int required, config_option_kind kind, struct config_words *out, char *err,
                size_t errlen)
{
    *out = (struct config_words){0};
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        if (e == ENOENT && !required)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long (4095 characters at most)", path, lineno);
            rc = -EINVAL;
            break;
        }
        strip_comment(line);
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: '%s' is not 'key = value'", path, lineno, s);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        int k = kind(key);
        if (unquote(value) != 0) {
            snprintf(err, errlen, "%s:%d: the value of '%s' opens a double quote it does not close; end it with \"",
                     path, lineno, key);
            rc = -EINVAL;
        } else if (k < 0 || strcmp(key, "config") == 0) {
            snprintf(err, errlen, "%s:%d: unknown setting '%s'; the settings are the long options of faxfs --help",
                     path, lineno, key);
            rc = -EINVAL;
        } else if (k == 0) {
            int on = parse_switch(value);
            if (on < 0) {
                snprintf(err, errlen, "%s:%d: %s takes yes or no, not '%s'", path, lineno, key, value);
                rc = -EINVAL;
            } else if (on) {
                rc = add_word(out, key, NULL);
            }
        } else {
            rc = add_word(out, key, value);
        }
    }
    fclose(f);
    if (rc < 0)
        config_words_free(out);
    return rc;
}

void config_words_free(struct config_words *w)
{
    for (int i = 0; i < w->count; i++)
        free(w->words[i]);
    free(w->words);
    *w = (struct config_words){0};
}
