/*
 * names.h - user names for uids, as `owner` and `ls -l` show them. Looking a
 * name up reads the password database (a file, or a network service), far
 * slower than serving a whole FUSE request, so names are remembered briefly.
 */
#ifndef FAXFS_FS_NAMES_H
#define FAXFS_FS_NAMES_H

#include <stddef.h>
#include <sys/types.h>

/* Seconds a name is trusted: renamed users show up at most this late. */
#define FS_NAME_TTL 60

/* Writes the user name of uid, or the number when the system has none. */
void fs_user_name(uid_t uid, char *out, size_t outlen);

#endif
