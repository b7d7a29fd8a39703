/*
 * config.h - /etc/faxfs.conf: `key = value` lines naming the daemon's long
 * options. The file becomes command-line words placed before the real
 * command line, so the command line overrides it and every option can be
 * set in both places with the same meaning. `[KIND NAME]` sections group
 * the settings of one named thing (config.c).
 */
#ifndef FAXFS_CONFIG_H
#define FAXFS_CONFIG_H

#include <stddef.h>

/* -1 unknown option, 0 a switch, 1 takes a value. */
typedef int (*config_option_kind)(const char *name);

struct config_words {
    char **words;   /* "--key=value" or "--key", malloc'd */
    char **origins; /* "FILE:LINE" each word was written at, for errors */
    int count;
};

/* Reads path into words. A missing file is an error only when required.
 * Errors name the file, the line and the fix in err; -errno returned. */
int config_read(const char *path, int required, config_option_kind kind, struct config_words *out, char *err,
                size_t errlen);
void config_words_free(struct config_words *w);

#endif
