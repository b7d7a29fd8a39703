/*
 * inode.h - how the view numbers its inodes. Every inode number encodes
 * where it lives (an area), which object (a job id, modem index or outbox
 * entry) and which node of that object, so job files need no table: the
 * number alone says what to render. The full scheme is in inode.c.
 */
#ifndef FAXFS_FS_INODE_H
#define FAXFS_FS_INODE_H

#include <stdbool.h>
#include <stdint.h>

enum fs_area {
    AREA_TOP = 0,      /* the root and its fixed children */
    AREA_JOBS = 1,     /* jobs/<id>/... */
    AREA_HISTORY = 2,  /* history/<id>/... */
    AREA_RECEIVED = 3, /* received/<id>/... (receive jobs) */
    AREA_MODEMS = 4,   /* modems/<name>/... */
    AREA_OUTBOX = 5,   /* outbox/<entry>/... (uploads, .error files, drafts) */
    AREA_LINES = 6,    /* lines/<name>/... */
    AREA_GROUPS = 7,   /* groups/<id>/... (broadcast groups) */
    AREA_COUNT
};

/* Fixed nodes of AREA_TOP; TOP_ROOT is FUSE_ROOT_ID (1). */
enum fs_top_node {
    TOP_ROOT = 1,
    TOP_JOBS,
    TOP_HISTORY,
    TOP_OUTBOX,
    TOP_MODEMS,
    TOP_SERVER,
    TOP_CTL,
    TOP_RECEIVED,
    TOP_METRICS,
    TOP_LINES,
    TOP_GROUPS,
    TOP_COUNT
};

/* Nodes inside an object: 0 is the object itself (a directory, or the
 * outbox file), 1..NODE_PAGES-1 named files, NODE_PAGES the pages/
 * directory, NODE_PAGES+1+n page n (0-based) or, in a draft, document n. */
#define NODE_SELF 0u
#define NODE_PAGES 64u
#define NODE_FIRST_PAGE (NODE_PAGES + 1u)
/* In a job, NODE_FIRST_PNG+n is pages/NNN.png, the preview of page n: the
 * upper half of the node space, far above any page count. */
#define NODE_FIRST_PNG (UINT32_C(1) << 19)

#define INO_ID_BITS 40
#define INO_NODE_BITS 20
#define INO_ID_MAX ((UINT64_C(1) << INO_ID_BITS) - 1)
#define INO_NODE_MAX ((UINT64_C(1) << INO_NODE_BITS) - 1)

struct fs_ino {
    enum fs_area area;
    uint64_t id;   /* job id, modem index, outbox entry serial; 0 in AREA_TOP */
    uint32_t node;
};

/* Returns 0 for an object that cannot be numbered (id or node too big). */
uint64_t fs_ino_make(enum fs_area area, uint64_t id, uint32_t node);
/* False for a number this view never hands out. */
bool fs_ino_split(uint64_t ino, struct fs_ino *out);

static inline uint64_t fs_ino_top(enum fs_top_node n) { return fs_ino_make(AREA_TOP, 0, n); }

#endif
