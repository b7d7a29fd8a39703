/*
 * config.c - parses the configuration file into option words. Syntax:
 * `key = value` per line, `#` starts a comment, blank lines ignored; a
 * switch takes yes/no (true/false, on/off, 1/0).
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
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
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
        if (k < 0 || strcmp(key, "config") == 0) {
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
