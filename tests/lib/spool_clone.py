#!/usr/bin/env python3
"""spool_clone.py SPOOL COUNT - grows a stopped daemon's spool to COUNT jobs.

The spool must hold exactly one job (made through the daemon, so it is a
real job in the format of docs/spool-format.md). Every new job is a copy of
it under the next free id: its job file with the `id:` and `end:` lines
rewritten, an empty log, and its pages as hard links to the template's page
files (pages never change, so jobs may share them, as a broadcast group's
do). next_id is raised past the last id. Used by the restart benchmark
(scripts/bench/restart.sh) and the mounted restart test; not part of
faxfs. The spool is written without fsync: it is test data.
"""
import os
import sys


LINKS_PER_FILE = 60000  # ext4 allows 65000 links to one file


def page_source(spool, tdir, page, i):
    """The file job i links page to: the template's, or for every further
    LINKS_PER_FILE jobs a copy of it kept in the template's pages/."""
    k = i // LINKS_PER_FILE
    src = os.path.join(tdir, "pages", page)
    if k == 0:
        return src
    copy = os.path.join(spool, "tmp", "clone.%d.%s" % (k, page))
    if not os.path.exists(copy):
        with open(src, "rb") as f, open(copy, "wb") as g:
            g.write(f.read())
    return copy


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: spool_clone.py SPOOL COUNT")
    spool, count = sys.argv[1], int(sys.argv[2])
    jobs = os.path.join(spool, "jobs")
    names = [n for n in os.listdir(jobs) if n.isdigit()]
    if len(names) != 1:
        sys.exit("spool_clone.py: %s must hold exactly one job, has %d" % (jobs, len(names)))
    first = int(names[0])
    tdir = os.path.join(jobs, names[0])
    with open(os.path.join(tdir, "job")) as f:
        lines = f.read().split("\n")
    pages = sorted(os.listdir(os.path.join(tdir, "pages")))
    head = [l for l in lines if not l.startswith("id: ") and not l.startswith("end: ")]
    # the job file: version line, id, the rest, end
    version, rest = head[0], [l for l in head[1:] if l != ""]
    for i in range(1, count):
        jid = first + i
        d = os.path.join(jobs, str(jid))
        os.mkdir(d, 0o700)
        os.mkdir(os.path.join(d, "pages"), 0o700)
        for p in pages:
            os.link(page_source(spool, tdir, p, i), os.path.join(d, "pages", p))
        text = "\n".join([version, "id: %d" % jid] + rest + ["end: %d" % jid]) + "\n"
        fd = os.open(os.path.join(d, "job"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, text.encode())
        os.close(fd)
        os.close(os.open(os.path.join(d, "log"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with open(os.path.join(spool, "next_id"), "w") as f:
        f.write("%d\n" % (first + count))
    # The extra page copies were link sources only; the jobs keep their links.
    for name in os.listdir(os.path.join(spool, "tmp")):
        if name.startswith("clone."):
            os.unlink(os.path.join(spool, "tmp", name))


if __name__ == "__main__":
    main()
