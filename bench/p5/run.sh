#!/bin/sh
# P5 of ../shared/design/TARGETS.md: engine overhead per durable step on SQLite with fsync,
# next to a bare SQLite insert loop in the same run. See bench/p5/doc.go for what is measured.
#
#   bench/p5/run.sh                  # 80 rotations, about 1,100 durable steps
#   ROTATIONS=200 bench/p5/run.sh    # more samples for the p99
#
# The SQLite files go to $TMPDIR (default /tmp). Point it at the disk rotor's state lives on:
# on tmpfs an fsync costs nothing and the figures say nothing about durability.
set -eu
cd "$(dirname "$0")/../.."

rotations=${ROTATIONS:-80}
report=$(mktemp "${TMPDIR:-/tmp}/rotor-p5-report.XXXXXX")
trap 'rm -f "$report"' EXIT INT TERM

go test ./bench/p5 -run '^$' -bench '^BenchmarkP5$' -benchtime "${rotations}x" -count 1 -p5.report "$report"

tmp=${TMPDIR:-/tmp}
if fs=$(df -PT "$tmp" 2>/dev/null | awk 'NR == 2 { print $2 " on " $1 " (" $7 ")" }') && [ -n "$fs" ]; then
	echo
	echo "state folder: $tmp, $fs"
	case $fs in tmpfs*|ramfs*) echo "warning: $tmp is in memory: fsync is free there; set TMPDIR to a folder on a disk" ;; esac
fi
echo
cat "$report"
