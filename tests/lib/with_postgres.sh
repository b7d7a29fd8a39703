#!/usr/bin/env bash
# with_postgres.sh CMD... - runs CMD with a private PostgreSQL server
# (tests/lib/postgres.sh) whose connection string is in FAXFS_TEST_PG,
# and stops the server afterwards, whatever CMD did. Exit 77 (skipped)
# only when the PostgreSQL binaries are not installed.
set -uo pipefail
# shellcheck source=postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
pg_start
rc=$?
[[ $rc -eq 0 ]] || exit "$rc"
FAXFS_TEST_PG=$PG_CONNINFO "$@"
