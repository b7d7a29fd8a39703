#!/bin/bash
# Inbound routing and deliveries: three faxes to three numbers of ours on
# the simulated network go to three users by [receive NAME] routes (each
# reads only their own; a route's group reads it too), one is written into
# a folder as the folder's owner (atomically, with the route's mode, the
# fax's PDF), one is printed through a stand-in print command and mailed
# through a stand-in sendmail (the PDF attached, the delivery's own
# Message-ID), one fails (no such folder), is retried and shown
# in `deliveries`, and is done once the folder exists; a kill -9 in the
# middle of a delivery loses nothing, and the folder file exists once by
# name. A bad rule is refused at start with its file and line.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to create users"
command -v setpriv >/dev/null && command -v useradd >/dev/null || skip "needs setpriv and useradd"

A=faxfs-t-route-a B=faxfs-t-route-b C=faxfs-t-route-c D=faxfs-t-route-d G=faxfs-t-route-g
remove_users() {
    for u in $A $B $C $D; do ! id "$u" >/dev/null 2>&1 || try_hard userdel "$u"; done
    ! getent group $G >/dev/null || try_hard groupdel $G
}
remove_users
on_exit remove_users
retry useradd -M -N -s /usr/sbin/nologin $A
retry useradd -M -N -s /usr/sbin/nologin $B
retry useradd -M -N -s /usr/sbin/nologin $C
retry groupadd $G
retry useradd -M -N -s /usr/sbin/nologin -G $G $D # in support's group
as() {
    local u=$1
    shift
    setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"
}

chmod 755 "$WORK"
# Folders: A's, and one for C that does not exist yet.
mkdir -m 750 "$WORK/folder-a" && chown $A "$WORK/folder-a"
# A plants a symlink where the fax will go, at a file of root's.
echo "root's own" >"$WORK/victim" && chmod 644 "$WORK/victim"
ln -s "$WORK/victim" "$WORK/folder-a/fax-$(job_id 2)-from-5550101.pdf"
chown -h $A "$WORK/folder-a/fax-$(job_id 2)-from-5550101.pdf"
# The print stand-in: records its arguments and what it read; waits while
# $WORK/print/hold exists (so a kill -9 can land during a delivery).
mkdir -m 777 "$WORK/print"
cat >"$WORK/fakelp" <<'SH'
#!/bin/sh
dir=$(dirname "$0")/print
n=$(date +%s%N)
echo "$(id -un) $*" >"$dir/args.$n"
cat >"$dir/input.$n"
while [ -e "$dir/hold" ]; do sleep 0.05; done
echo done >"$dir/finished.$n"
SH
chmod 755 "$WORK/fakelp"
# The sendmail stand-in: records its arguments and the message.
mkdir -m 777 "$WORK/mail"
cat >"$WORK/fakesendmail" <<'SH'
#!/bin/sh
dir=$(dirname "$0")/mail
n=$(date +%s%N)
echo "$*" >"$dir/args.$n"
cat >"$dir/msg.$n"
SH
chmod 755 "$WORK/fakesendmail"

# ---- a bad rule is refused with its file and line ----
cat >"$WORK/bad.conf" <<CONF
[receive sales]
called = 555-ABC
CONF
expect_fail_with "bad.conf:2" "$FAXFS" --config "$WORK/bad.conf" -f -s "$SPOOL" "$MNT"

cat >"$WORK/faxfs.conf" <<CONF
[receive sales]
called = 5550101
owner = $A
folder = $WORK/folder-a
folder-name = fax-%i-from-%c
folder-mode = 0640

[receive support]
called = 5550102
owner = $B
group = $G
print = office
mail = support@example.org,boss@example.org

[receive billing]
called = 5550103
owner = $C
folder = $WORK/folder-c
folder-owner = $C
folder-format = both
CONF
START=(--config "$WORK/faxfs.conf" -o allow_other,default_permissions --modems 3 --tsid "FAXFS TEST"
       --station-number 5550101 --station-number 5550102 --station-number 5550103
       --print-command "$WORK/fakelp" --sendmail "$WORK/fakesendmail" --delivery-retry 1)
faxfs_start "${START[@]}"

make_fax "$WORK/doc.tif" 1
# One at a time, so ids are known: each send, then its reception.
i=1
for n in 5550101 5550102 5550103; do
    cp "$WORK/doc.tif" "$MNT/outbox/$n.tif"
    wait_for "$MNT/history/$(job_id $i)/status" done 60
    wait_exists "$MNT/received/$(job_id $((i + 1)))" 20
    i=$((i + 2))
done
RA=$(job_id 2) RB=$(job_id 4) RC=$(job_id 6)
expect_eq "called number of A's fax" "$(cat "$MNT/received/$RA/called_number")" 5550101
expect_eq "called number of B's fax" "$(cat "$MNT/received/$RB/called_number")" 5550102
expect_eq "called number of C's fax" "$(cat "$MNT/received/$RC/called_number")" 5550103
for r in $RA $RB $RC; do wait_for "$MNT/received/$r/status" done 30; done
wait_for "$MNT/received/$RA/route" sales 20
wait_for "$MNT/received/$RB/route" support 20
wait_for "$MNT/received/$RC/route" billing 20
expect_eq "caller_number" "$(cat "$MNT/received/$RA/caller_number")" "$(cat "$MNT/received/$RA/caller_id")"

# ---- each user reads only their own fax ----
expect_eq "A's owner" "$(sed -n "s/^owner: //p" "$MNT/received/$RA/info")" $A
as $A cat "$MNT/received/$RA/page_count" >/dev/null || fail "$A cannot read their fax"
as $B cat "$MNT/received/$RB/pages/001.tif" >/dev/null || fail "$B cannot read their fax's page"
as $A cat "$MNT/received/$RB/page_count" >/dev/null 2>&1 && fail "$A reads $B's fax"
as $C cat "$MNT/received/$RA/pages/001.tif" >/dev/null 2>&1 && fail "$C reads $A's page"
# The route's group: its members read the fax too, others still do not.
as $D cat "$MNT/received/$RB/pages/001.tif" >/dev/null || fail "$D, in group $G, cannot read support's fax"
as $D cat "$MNT/received/$RA/page_count" >/dev/null 2>&1 && fail "$D reads sales' fax"

# ---- folder: the file appears whole, as A, with the route's mode ----
f="$WORK/folder-a/fax-$RA-from-$(tr -cd '0-9+' <"$MNT/received/$RA/caller_number").pdf"
for _ in $(seq 400); do [ -f "$f" ] && [ ! -L "$f" ] && break; sleep 0.05; done
[ ! -L "$f" ] || fail "the planted symlink is still there"
expect_eq "root's file behind the symlink" "$(cat "$WORK/victim")" "root's own"
expect_eq "folder file owner" "$(stat -c %U "$f")" $A
expect_eq "folder file mode" "$(stat -c %a "$f")" 640
expect_eq "folder file" "$(head -c 5 "$f")" "%PDF-"
cmp -s "$f" "$MNT/received/$RA/fax.pdf" || fail "the folder file is not the fax's PDF"
expect_eq "folder holds" "$(ls -A "$WORK/folder-a" | wc -l)" 1
for _ in $(seq 200); do grep -q "done" "$MNT/received/$RA/deliveries" && break; sleep 0.05; done
expect_eq "A's deliveries" "$(cut -f1,2,3,4 "$MNT/received/$RA/deliveries")" "$(printf 'folder\t%s\tdone\t1' "$WORK/folder-a")"

# ---- print: the stand-in ran as B with the printer's name and the fax ----
for _ in $(seq 200); do ls "$WORK/print"/finished.* >/dev/null 2>&1 && break; sleep 0.05; done
args=$(cat "$WORK/print"/args.*)
expect_eq "print arguments" "$args" "$B office"
input=$(ls "$WORK/print"/input.*)
cmp -s "$input" /dev/null && fail "the print command read nothing"
cmp -s "$input" "$MNT/received/$RB/fax.pdf" || fail "the print command did not get the fax's PDF"
for _ in $(seq 200); do [ "$(grep -c "	done	" "$MNT/received/$RB/deliveries")" = 2 ] && break; sleep 0.05; done
expect_eq "B's deliveries" "$(cat "$MNT/received/$RB/deliveries")" \
    "$(printf 'print\toffice\tdone\t1\t-\t-\nmail\tsupport@example.org,boss@example.org\tdone\t1\t-\t-')"

# ---- mail: both addresses on the command line, the PDF attached, a Message-ID of the delivery ----
expect_eq "sendmail arguments" "$(cat "$WORK/mail"/args.*)" "-i -- support@example.org boss@example.org"
msg=$(ls "$WORK/mail"/msg.*)
grep -qi "^Message-ID: <faxfs\.$RB\.2@" "$msg" || fail "Message-ID: $(grep -i '^message-id' "$msg")"
grep -qi "^Content-Type: application/pdf" "$msg" || fail "no PDF attached: $(head -c 2000 "$msg")"

# ---- a failing delivery is retried and shown ----
for _ in $(seq 200); do grep -q "retrying" "$MNT/received/$RC/deliveries" && break; sleep 0.05; done
grep -q "^folder	$WORK/folder-c	retrying	[0-9]*	.*	cannot open the folder: No such file or directory\$" \
    "$MNT/received/$RC/deliveries" || fail "deliveries: $(cat "$MNT/received/$RC/deliveries")"
grep -q 'faxfs_deliveries_total{action="folder",outcome="retry"} [1-9]' "$MNT/metrics" ||
    fail "metrics: $(grep deliveries "$MNT/metrics")"

# kill -9 while C's delivery is retrying and a print is in progress.
rm -f "$WORK/mail"/*
touch "$WORK/print/hold"
cp "$WORK/doc.tif" "$MNT/outbox/5550102.tif"
wait_for "$MNT/history/$(job_id 7)/status" done 60
RB2=$(job_id 8)
for _ in $(seq 400); do [ "$(ls "$WORK/print"/args.* | wc -l)" = 2 ] && break; sleep 0.05; done
expect_eq "print in progress" "$(ls "$WORK/print"/args.* | wc -l)" 2
grep -q "^print	office	pending	0" "$MNT/received/$RB2/deliveries" ||
    fail "the print record was not stored before printing: $(cat "$MNT/received/$RB2/deliveries")"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
fusermount3 -u -z "$MNT" 2>/dev/null || true
rm -f "$WORK/print/hold"
mkdir -m 750 "$WORK/folder-c" && chown $C "$WORK/folder-c"

faxfs_start "${START[@]}"
wait_for "$MNT/received/$RC/route" billing 20
for _ in $(seq 400); do grep -q "	done	" "$MNT/received/$RC/deliveries" && break; sleep 0.05; done
grep -q "^folder	$WORK/folder-c	done	" "$MNT/received/$RC/deliveries" ||
    fail "C's delivery after restart: $(cat "$MNT/received/$RC/deliveries")"
expect_eq "C's folder" "$(ls -A "$WORK/folder-c" | sed 's/.*\.//' | sort | tr '\n' ' ')" "pdf tif "
expect_eq "C's files share a name" "$(ls -A "$WORK/folder-c" | sed 's/\.[a-z]*$//' | sort -u | grep -c "^fax-[0-9]*-[0-9]*-$RC\$")" 1
tiffinfo "$WORK/folder-c"/*.tif >/dev/null 2>&1 || fail "C's TIFF is not readable"

for _ in $(seq 400); do grep -q "	done	" "$MNT/received/$RB2/deliveries" && break; sleep 0.05; done
grep -q "^print	office	done	1" "$MNT/received/$RB2/deliveries" ||
    fail "the interrupted print after restart: $(cat "$MNT/received/$RB2/deliveries")"
# A's delivery was done before the crash: not repeated.
expect_eq "A's deliveries after restart" "$(cut -f3,4 "$MNT/received/$RA/deliveries")" "$(printf 'done\t1')"

# ---- redeliver: the owner repeats it; the same name is overwritten ----
before=$(stat -c %i "$f")
as $A sh -c "echo redeliver > '$MNT/received/$RA/ctl'" || fail "$A cannot redeliver their fax"
as $B sh -c "echo redeliver > '$MNT/received/$RA/ctl'" 2>/dev/null && fail "$B redelivered $A's fax"
for _ in $(seq 200); do [ "$(stat -c %i "$f")" != "$before" ] && break; sleep 0.05; done
[ "$(stat -c %i "$f")" != "$before" ] || fail "redeliver did not write the file again"
wait_for "$MNT/received/$RA/status" done 5
for _ in $(seq 200); do grep -q "	done	1	" "$MNT/received/$RA/deliveries" && break; sleep 0.05; done
expect_eq "folder after redeliver" "$(ls -A "$WORK/folder-a" | grep -c .)" 1
echo PASS
