#!/bin/sh
# P3 of ../shared/design/TARGETS.md: the residual-use scan of a 2 GB nginx access log for one
# key id — rotor's log check next to ripgrep (rg -c) on the same file, in the same run. See
# bench/p3/main.go for what is measured.
#
#   bench/p3/run.sh                 # 5 rounds
#   RUNS=9 bench/p3/run.sh          # more rounds
#   P3_CACHE=/big/disk bench/p3/run.sh   # where the 2 GB log is kept (default ~/.cache/rotor-bench/p3)
#
# The log is generated once (fixed seed, about 10 s) and reused. Both commands read it from
# the page cache: the machine needs about 2.5 GB of free memory to keep it there.
set -eu
cd "$(dirname "$0")/../.."

if ! command -v rg >/dev/null 2>&1; then
	echo "p3: installing ripgrep (the baseline)" >&2
	sudo=
	if [ "$(id -u)" -ne 0 ]; then
		sudo=sudo
	fi
	$sudo apt-get install -y --no-install-recommends ripgrep >/dev/null ||
		{ $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends ripgrep >/dev/null; }
fi

bin=$(mktemp -d "${TMPDIR:-/tmp}/rotor-p3.XXXXXX")
trap 'rm -rf "$bin"' EXIT INT TERM
go build -o "$bin/p3" ./bench/p3
set -- -runs "${RUNS:-5}"
if [ -n "${P3_CACHE:-}" ]; then
	set -- "$@" -cache "$P3_CACHE"
fi
"$bin/p3" "$@"
