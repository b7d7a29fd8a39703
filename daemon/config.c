/*
 * config.c - parses the configuration file into option words. Syntax:
 * `key = value` per line, blank lines ignored; a switch takes yes/no
 * (true/false, on/off, 1/0). `#` starts a comment only at the start of a
 * line or after white space, so `sip-password = ab#cd` keeps its `#`; a
 * value in double quotes keeps everything, with \" and \\ for a quote and
 * a backslash.
 *
 * Things an administrator names and describes with several settings (a
 * line, a destination, an inbound route) are sections:
 *
 *     [line trunk]
 *     spec = sip:sip.example.net
 *     channels = 4
 *
 * Inside `[KIND NAME]`, `key = value` is the option `--KIND-key` with the
 * value `NAME=value`, so every section setting has a command-line
 * spelling too, and sections keep the order they are written in. A
 * section lasts until the next one; settings that belong to no section
 * come before the first.
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

/* Appends "--key[=[section=]value]" and where it was written. */
static int add_word(struct config_words *w, const char *key, const char *section, const char *value,
                    const char *path, int lineno)
{
    char **v = realloc(w->words, (size_t)(w->count + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    w->words = v;
    char **o = realloc(w->origins, (size_t)(w->count + 1) * sizeof *o);
    if (!o)
        return -ENOMEM;
    w->origins = o;
    size_t len = strlen(key) + (value ? strlen(value) + 1 : 0) + (section ? strlen(section) + 1 : 0) + 3;
    char *word = malloc(len);
    size_t olen = strlen(path) + 16;
    char *origin = malloc(olen);
    if (!word || !origin) {
        free(word);
        free(origin);
        return -ENOMEM;
    }
    snprintf(word, len, "--%s%s%s%s%s", key, value ? "=" : "", section ? section : "", section ? "=" : "",
             value ? value : "");
    snprintf(origin, olen, "%s:%d", path, lineno);
    w->words[w->count] = word;
    w->origins[w->count++] = origin;
    return 0;
}

/* "[KIND NAME]" into kind and name, in place; -1 when it is not one. */
static int parse_section(char *s, char **kind, char **name)
{
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != ']')
        return -1;
    s[n - 1] = '\0';
    char *k = trim(s + 1), *sp = k;
    while (*sp && !isspace((unsigned char)*sp))
        sp++;
    if (!*sp || sp == k)
        return -1;
    *sp = '\0';
    char *nm = trim(sp + 1);
    for (char *c = nm; *c; c++)
        if (isspace((unsigned char)*c) || *c == '=' || *c == '[' || *c == ']')
            return -1;
    for (char *c = k; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-')
            return -1;
    *kind = k;
    *name = nm;
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
    char section_kind[64] = "", section_name[1024] = "";
    int lineno = 0, rc = 0, section_line = 0, section_keys = 0;
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
        if (*s == '[') {
            char *k, *nm, shown[128];
            snprintf(shown, sizeof shown, "%s", s);
            if (section_line && !section_keys) {
                snprintf(err, errlen, "%s:%d: section [%s %s] sets nothing; give it settings or remove it", path,
                         section_line, section_kind, section_name);
                rc = -EINVAL;
            } else if (parse_section(s, &k, &nm) != 0 || strlen(k) >= sizeof section_kind
                       || strlen(nm) >= sizeof section_name) {
                snprintf(err, errlen, "%s:%d: '%s' is not a section header; write [KIND NAME], e.g. [line trunk]",
                         path, lineno, shown);
                rc = -EINVAL;
            } else {
                snprintf(section_kind, sizeof section_kind, "%s", k);
                snprintf(section_name, sizeof section_name, "%s", nm);
                section_line = lineno;
                section_keys = 0;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: '%s' is not 'key = value'", path, lineno, s);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        char full[256];
        if (section_line) {
            if (snprintf(full, sizeof full, "%s-%s", section_kind, key) >= (int)sizeof full) {
                snprintf(err, errlen, "%s:%d: setting name '%s' is too long", path, lineno, key);
                rc = -EINVAL;
                break;
            }
            section_keys++;
        }
        int k = kind(section_line ? full : key);
        if (unquote(value) != 0) {
            snprintf(err, errlen, "%s:%d: the value of '%s' opens a double quote it does not close; end it with \"",
                     path, lineno, key);
            rc = -EINVAL;
        } else if (section_line && k != 1) {
            snprintf(err, errlen,
                     "%s:%d: unknown setting '%s' in section [%s %s]; its settings are the --%s-* options of faxfs "
                     "--help",
                     path, lineno, key, section_kind, section_name, section_kind);
            rc = -EINVAL;
        } else if (section_line) {
            rc = add_word(out, full, section_name, value, path, lineno);
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
                rc = add_word(out, key, NULL, NULL, path, lineno);
            }
        } else {
            rc = add_word(out, key, NULL, value, path, lineno);
        }
    }
    if (rc == 0 && section_line && !section_keys) {
        snprintf(err, errlen, "%s:%d: section [%s %s] sets nothing; give it settings or remove it", path,
                 section_line, section_kind, section_name);
        rc = -EINVAL;
    }
    fclose(f);
    if (rc < 0)
        config_words_free(out);
    return rc;
}

void config_words_free(struct config_words *w)
{
    for (int i = 0; i < w->count; i++) {
        free(w->words[i]);
        free(w->origins[i]);
    }
    free(w->words);
    free(w->origins);
    *w = (struct config_words){0};
}
