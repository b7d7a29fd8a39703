#!/bin/bash
# The shipped systemd unit (scripts/faxfs.service): systemd-analyze verifies
# it, its exposure score is no worse than docs/security.md says, and the
# daemon works with exactly the unit's capability bounding set and
# no_new_privs: it mounts, converts a PostScript document, sends a fax and
# cancels one.
source "$(dirname "$0")/../mount/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
unit_src="$top/scripts/faxfs.service"
[ "$(id -u)" = 0 ] || skip "needs root to run the daemon as the unit does"
command -v systemd-analyze >/dev/null || skip "needs systemd-analyze"

# 1. The unit verifies, with the binary it names pointed at the one built.
unit="$WORK/faxfs.service"
sed "s#/usr/local/bin/faxfs#$FAXFS#" "$unit_src" >"$unit"
out=$(systemd-analyze verify --man=no "$unit" 2>&1) || fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify complains: $out"

# 2. Its exposure score (0 best .. 10 worst) is the one documented, or better.
score=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for faxfs.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "systemd-analyze security printed no score"
documented=$(sed -n 's/.*`systemd-analyze security --offline=true` scores the unit \([0-9.]*\).*/\1/p' "$top/docs/security.md")
[ -n "$documented" ] || fail "docs/security.md does not state the unit's score"
awk -v s="$score" -v d="$documented" 'BEGIN { exit !(s <= d) }' ||
    fail "the unit's exposure score is $score, worse than the $documented docs/security.md states"

# 3. The daemon under the unit's capability bounding set and no_new_privs.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit_src")
[ -n "$caps" ] || fail "the unit sets no CapabilityBoundingSet"
bset="-all"
for c in $caps; do
    c=${c#CAP_}
    bset="$bset,+${c,,}"
done
real_faxfs=$FAXFS
FAXFS="$WORK/faxfs-confined"
cat >"$FAXFS" <<EOS
#!/bin/sh
exec setpriv --bounding-set=$bset --no-new-privs "$real_faxfs" "\$@"
EOS
chmod 755 "$FAXFS"

faxfs_start
pid=$(pgrep -P "$DAEMON_PID" -x faxfs || echo "$DAEMON_PID")
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status" || fail "the daemon runs without no_new_privs"
capbnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$pid/status")
capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$pid/status")
nbits=$(python3 -c "print(bin(int('$capbnd', 16)).count('1'))")
expect_eq "capabilities in the daemon's bounding set ($capbnd)" "$nbits" "$(wc -w <<<"$caps")"
expect_eq "the daemon's effective capabilities" "$capeff" "$capbnd"

cat >"$WORK/doc.ps" <<'EOS'
%!PS
/Helvetica findfont 48 scalefont setfont
72 600 moveto (faxfs unit test) show
showpage
EOS
cp "$WORK/doc.ps" "$MNT/outbox/5551234.ps"
id=$(job_id 1)
wait_for "$MNT/history/$id/status" done 60
expect_eq "pages sent" "$(cat "$MNT/history/$id/pages_sent")" 1
echo pause >"$MNT/ctl"
make_fax "$WORK/doc.tif" 1
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
id=$(job_id 2)
rm -r "$MNT/jobs/$id"
wait_for "$MNT/history/$id/status" canceled
echo "unit: verified, exposure $score (documented $documented), daemon works with caps $caps"
