#!/bin/sh
# P1 of ../shared/design/TARGETS.md: rotate everything after a leak. 1,000 PostgreSQL
# credentials × 3 consumers through every phase with rotor's engine, next to a bare loop doing
# only the same ALTER ROLEs and logins, in the same run against the same server. See
# bench/p1/doc.go for what is measured and checked.
#
#   bench/p1/run.sh                        # 1,000 credentials, N=4, 3 timed rounds a side (~10 min)
#   CREDS=200 ROUNDS=1 bench/p1/run.sh     # a quick look
#   PARALLEL=8 bench/p1/run.sh             # another concurrency, for both sides
#
# It starts its own PostgreSQL cluster (internal/testenv: initdb, scram-sha-256; as an
# unprivileged user when run as root). rotor's SQLite state and file store go to $TMPDIR
# (default /tmp): point it at the disk rotor's state lives on; on tmpfs an fsync costs nothing
# and the figures say nothing about durability.
set -eu
cd "$(dirname "$0")/../.."

creds=${CREDS:-1000}
parallel=${PARALLEL:-4}
rounds=${ROUNDS:-3}
report=$(mktemp "${TMPDIR:-/tmp}/rotor-p1-report.XXXXXX")
trap 'rm -f "$report"' EXIT INT TERM

go test ./bench/p1 -run '^$' -bench '^BenchmarkP1$' -benchtime 1x -count 1 -timeout 2h \
	-p1.creds "$creds" -p1.parallel "$parallel" -p1.rounds "$rounds" -p1.report "$report"

tmp=${TMPDIR:-/tmp}
if fs=$(df -PT "$tmp" 2>/dev/null | awk 'NR == 2 { print $2 " on " $1 " (" $7 ")" }') && [ -n "$fs" ]; then
	echo
	echo "state folder: $tmp, $fs"
	case $fs in tmpfs*|ramfs*) echo "warning: $tmp is in memory: fsync is free there; set TMPDIR to a folder on a disk" ;; esac
fi
echo
cat "$report"
