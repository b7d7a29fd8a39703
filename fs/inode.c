/*
 * inode.c - the one place inode numbers are defined.
 *
 *   63      60 59                        20 19              0
 *   +--------+----------------------------+-----------------+
 *   |  area  |  id (40 bits)              |  node (20 bits) |
 *   +--------+----------------------------+-----------------+
 *
 * AREA_TOP with id 0 holds the root (node 1 = FUSE_ROOT_ID) and the fixed
 * top-level files and directories. A job's inodes carry its area, so the
 * same job has different numbers under jobs/ and history/: when a job
 * finishes, its old directory simply stops resolving instead of becoming a
 * directory alias the kernel would refuse. Job ids are never reused and
 * outbox serials only grow, so a number never names two things in one mount.
 */
#include "fs/inode.h"

uint64_t fs_ino_make(enum fs_area area, uint64_t id, uint32_t node)
{
    if ((unsigned)area >= AREA_COUNT || id > INO_ID_MAX || node > INO_NODE_MAX)
        return 0;
    return ((uint64_t)area << (INO_ID_BITS + INO_NODE_BITS)) | (id << INO_NODE_BITS) | node;
}

bool fs_ino_split(uint64_t ino, struct fs_ino *out)
{
    uint64_t area = ino >> (INO_ID_BITS + INO_NODE_BITS);

    if (area >= AREA_COUNT)
        return false;
    out->area = (enum fs_area)area;
    out->id = (ino >> INO_NODE_BITS) & INO_ID_MAX;
    out->node = (uint32_t)(ino & INO_NODE_MAX);
    if (out->area == AREA_TOP)
        return out->id == 0 && out->node >= TOP_ROOT && out->node < TOP_COUNT;
    return true;
}
