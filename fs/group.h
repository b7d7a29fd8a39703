/*
 * group.h - MOUNT/groups/ID/ (fs/group.c): broadcast groups in the view.
 */
#ifndef FAXFS_FS_GROUP_H
#define FAXFS_FS_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "queue/queue.h"

struct fs;

int fs_group_file_count(void);
const char *fs_group_file_name(int node);
int fs_group_node_by_name(const char *name);
/* The owner of the group's first job left; -ENOENT when no job is left. */
int fs_group_owner(struct fs *fs, uint64_t group, uid_t *uid);
/* The content of groups/ID/<node> now, malloc'd; -ENOENT. */
int fs_group_render(struct fs *fs, uint64_t group, int node, char **out, size_t *len);
/* rm -r groups/ID: cancels every unfinished job of the group the caller
 * may control; -EPERM when they may control none. */
int fs_group_cancel(struct fs *fs, uint64_t group, const struct queue_caller *qc, char *why, size_t whylen);

#endif
