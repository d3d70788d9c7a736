#!/bin/sh
# P4 of ../shared/design/TARGETS.md: verify 1,000 TLS endpoints (serial + chain) with
# `rotor scan`, next to raw concurrent Go handshakes over the same endpoints, in the same run.
# See bench/p4/main.go for what is measured.
#
#   bench/p4/run.sh                 # 1,000 endpoints, 3 rounds
#   RUNS=5 N=2000 bench/p4/run.sh
set -eu
cd "$(dirname "$0")/../.."
bin=$(mktemp -d "${TMPDIR:-/tmp}/rotor-p4.XXXXXX")
trap 'rm -rf "$bin"' EXIT INT TERM
go build -o "$bin/rotor" ./cmd/rotor
go build -o "$bin/p4" ./bench/p4
"$bin/p4" -rotor "$bin/rotor" -runs "${RUNS:-3}" -n "${N:-1000}"
