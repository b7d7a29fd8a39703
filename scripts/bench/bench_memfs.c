/*
 * bench_memfs.c - the thinnest FUSE filesystem we can write, as a second
 * baseline for scripts/bench/fs.sh: it loads a directory tree into memory
 * and serves it read-only through the same libfuse low-level loop and the
 * same cache settings as the faxfs view (keep_cache, long timeouts,
 * readdirplus, no OPENDIR). What faxfs costs above it is the view's own
 * work; what it costs above tmpfs is the price of any FUSE round trip.
 *
 * usage: bench_memfs [--no-open] TREE MOUNTPOINT
 *   --no-open  answer OPEN with ENOSYS, so the kernel stops sending OPEN
 *              and RELEASE (it still sends FLUSH at every close).
 * At exit it prints on stderr how many requests of each kind it served.
 */
#define FUSE_USE_VERSION 312 /* as fs/: 35 misreads the loop configuration in libfuse 3.14 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TIMEOUT 30.0

struct mnode {
    char *name;
    struct stat st;
    char *data;            /* file contents */
    struct mnode **kids;   /* directory entries, in readdir order */
    size_t nkids;
    struct mnode *parent;
};

enum { N_LOOKUP, N_GETATTR, N_READDIR, N_OPEN, N_READ, N_FLUSH, N_RELEASE, N_COUNT };
static const char *const counter_name[N_COUNT] = { "lookup", "getattr", "readdir", "open",
                                                   "read",   "flush",   "release" };
static atomic_ulong counters[N_COUNT];
static struct mnode **by_ino; /* inode number - 1 -> node */
static size_t nnodes, cap;
static bool no_open;

static struct mnode *add_node(const char *name, const struct stat *st, struct mnode *parent)
{
    struct mnode *n = calloc(1, sizeof *n);

    if (!n || !(n->name = strdup(name)))
        exit(1);
    if (nnodes == cap) {
        cap = cap ? cap * 2 : 1024;
        if (!(by_ino = realloc(by_ino, cap * sizeof *by_ino)))
            exit(1);
    }
    by_ino[nnodes++] = n;
    n->st = *st;
    n->st.st_ino = nnodes; /* the root becomes 1, FUSE_ROOT_ID */
    n->parent = parent;
    return n;
}

static void load(int dirfd, struct mnode *dir)
{
    DIR *d = fdopendir(dirfd);
    struct dirent *de;

    if (!d)
        exit(1);
    while ((de = readdir(d))) {
        struct stat st;

        if (de->d_name[0] == '.' || fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!(dir->kids = realloc(dir->kids, (dir->nkids + 1) * sizeof *dir->kids)))
            exit(1);
        struct mnode *n = add_node(de->d_name, &st, dir);
        dir->kids[dir->nkids++] = n;
        int fd = openat(dirfd, de->d_name, O_RDONLY | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
        if (fd < 0)
            exit(1);
        if (S_ISDIR(st.st_mode)) {
            load(fd, n);
            continue;
        }
        if (!(n->data = malloc((size_t)st.st_size + 1)) || pread(fd, n->data, (size_t)st.st_size, 0) != st.st_size)
            exit(1);
        close(fd);
    }
    closedir(d);
}

static struct mnode *node_of(fuse_ino_t ino)
{
    return ino >= 1 && ino <= nnodes ? by_ino[ino - 1] : NULL;
}

static void fill_entry(struct fuse_entry_param *e, const struct mnode *n)
{
    memset(e, 0, sizeof *e);
    e->ino = n->st.st_ino;
    e->attr = n->st;
    e->attr_timeout = e->entry_timeout = TIMEOUT;
}

static void m_init(void *ud, struct fuse_conn_info *conn)
{
    (void)ud;
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void m_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct mnode *p = node_of(parent);
    struct fuse_entry_param e;

    counters[N_LOOKUP]++;
    for (size_t i = 0; p && i < p->nkids; i++)
        if (strcmp(p->kids[i]->name, name) == 0) {
            fill_entry(&e, p->kids[i]);
            fuse_reply_entry(req, &e);
            return;
        }
    fuse_reply_err(req, ENOENT);
}

static void m_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct mnode *n = node_of(ino);

    (void)fi;
    counters[N_GETATTR]++;
    if (!n)
        fuse_reply_err(req, ENOENT);
    else
        fuse_reply_attr(req, &n->st, TIMEOUT);
}

static void m_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, ENOSYS); /* as faxfs: no OPENDIR/RELEASEDIR round trips */
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
    struct mnode *d = node_of(ino);
    char *buf;
    size_t used = 0;

    counters[N_READDIR]++;
    if (!d || !S_ISDIR(d->st.st_mode)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if (!(buf = malloc(size))) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    for (size_t i = (size_t)off; i < d->nkids; i++) {
        struct mnode *n = d->kids[i];
        size_t len;

        if (plus) {
            struct fuse_entry_param e;

            fill_entry(&e, n);
            len = fuse_add_direntry_plus(req, buf + used, size - used, n->name, &e, (off_t)i + 1);
        } else {
            len = fuse_add_direntry(req, buf + used, size - used, n->name, &n->st, (off_t)i + 1);
        }
        if (len > size - used)
            break;
        used += len;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void m_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, false);
}

static void m_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, true);
}

static void m_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    counters[N_OPEN]++;
    if (no_open) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    if (!node_of(ino)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    fi->keep_cache = 1;
    fi->noflush = 1;
    fuse_reply_open(req, fi);
}

static void m_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct mnode *n = node_of(ino);

    (void)fi;
    counters[N_READ]++;
    if (!n || !n->data) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if (off >= n->st.st_size)
        size = 0;
    else if ((off_t)size > n->st.st_size - off)
        size = (size_t)(n->st.st_size - off);
    fuse_reply_buf(req, n->data + (size ? off : 0), size);
}

static void m_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    counters[N_FLUSH]++;
    fuse_reply_err(req, 0);
}

static void m_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    counters[N_RELEASE]++;
    fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops ops = {
    .init = m_init,
    .lookup = m_lookup,
    .getattr = m_getattr,
    .opendir = m_opendir,
    .readdir = m_readdir,
    .readdirplus = m_readdirplus,
    .open = m_open,
    .read = m_read,
    .flush = m_flush,
    .release = m_release,
};

int main(int argc, char **argv)
{
    int a = 1;

    if (a < argc && strcmp(argv[a], "--no-open") == 0) {
        no_open = true;
        a++;
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: bench_memfs [--no-open] TREE MOUNTPOINT\n");
        return 2;
    }
    struct stat st;
    int fd = open(argv[a], O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(argv[a]);
        return 1;
    }
    load(fd, add_node("", &st, NULL));

    char *fargv[] = { "bench_memfs", "-o", "fsname=bench_memfs", NULL };
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
    if (!se || fuse_session_mount(se, argv[a + 1]) != 0) {
        fprintf(stderr, "bench_memfs: cannot mount on %s\n", argv[a + 1]);
        return 1;
    }
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 16);
    fuse_loop_cfg_set_idle_threads(cfg, 16);
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_set_signal_handlers(se);
    fuse_session_loop_mt(se, cfg);
    fuse_remove_signal_handlers(se);
    fuse_loop_cfg_destroy(cfg);
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    for (int i = 0; i < N_COUNT; i++)
        fprintf(stderr, "%s%s %lu", i ? ", " : "bench_memfs requests: ", counter_name[i], (unsigned long)counters[i]);
    fprintf(stderr, "\n");
    return 0;
}
