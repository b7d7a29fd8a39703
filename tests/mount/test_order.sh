#!/bin/bash
# Plain ls (and ls -l, globs) lists jobs/ in numeric order, in the C locale
# and in UTF-8 locales, because ids have a fixed width of six digits. Past
# 999999 the ids grow to seven digits; ls -v keeps them numeric then, and
# plain ls sorts them as text, as docs/filesystem.md says.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 1
echo pause >"$MNT/ctl" # the jobs stay in jobs/ while they are listed
make_fax "$WORK/doc.tif" 1

for n in $(seq 12); do cp "$WORK/doc.tif" "$MNT/outbox/55500$((10 + n)).tif"; done
numeric=$(seq "$(job_id 1)" "$(job_id 12)")

# The locales to list in: C always, the UTF-8 ones this machine has
# (locale -a spells them "C.utf8", "en_US.utf8").
locales=(C)
available=$( (locale -a 2>/dev/null || true) | tr 'A-Z' 'a-z' | tr -d '-')
for l in C.UTF-8 en_US.UTF-8; do
    if grep -qxF "$(tr 'A-Z' 'a-z' <<<"$l" | tr -d '-')" <<<"$available"; then locales+=("$l"); fi
done
echo "locales: ${locales[*]}"

# A listing may lag the last cp by the notifier's delay: wait for all 12.
for _ in $(seq 100); do
    [ "$(ls "$MNT/jobs" | wc -l)" = 12 ] && break
    sleep 0.05
done
for l in "${locales[@]}"; do
    expect_eq "LC_ALL=$l ls jobs/" "$(LC_ALL=$l ls "$MNT/jobs")" "$numeric"
    expect_eq "LC_ALL=$l ls -l jobs/" "$(LC_ALL=$l ls -l "$MNT/jobs" | awk 'NR > 1 { print $NF }')" "$numeric"
    expect_eq "LC_ALL=$l glob jobs/*" "$(cd "$MNT/jobs" && LC_ALL=$l bash -c 'printf "%s\n" *')" "$numeric"
    expect_eq "LC_ALL=$l sort" "$(ls -U "$MNT/jobs" | LC_ALL=$l sort)" "$numeric"
done

# Past six digits: the counter goes on to seven (queue stopped, next_id
# raised as docs/spool-format.md describes it).
faxfs_stop
echo 999998 >"$SPOOL/next_id"
faxfs_start --modems 1
for n in 1 2 3 4; do cp "$WORK/doc.tif" "$MNT/outbox/55501$n.tif"; done
for _ in $(seq 100); do
    [ "$(ls "$MNT/jobs" | wc -l)" = 16 ] && break
    sleep 0.05
done
all=$(printf '%s\n' "$numeric" 999998 999999 1000000 1000001)
expect_eq "ls -U jobs/ across 999999 (the view's order)" "$(ls -U "$MNT/jobs")" "$all"
expect_eq "ls -v jobs/ across 999999" "$(ls -v "$MNT/jobs")" "$all"
expect_eq "plain ls jobs/ across 999999 is text order" "$(LC_ALL=C ls "$MNT/jobs")" "$(LC_ALL=C sort <<<"$all")"
echo PASS
