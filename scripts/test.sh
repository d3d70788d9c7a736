#!/usr/bin/env bash
# Installs what rotor's tests need and runs all of them: formatting, vet, every test, and a
# short run of each fuzz target. .ci/run calls exactly this script.
#
#   scripts/test.sh            everything (about a minute on 2 cores, warm cache)
#   FUZZTIME=2m scripts/test.sh  longer fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-10s}

need_go() {
	if ! command -v go >/dev/null 2>&1; then
		echo "error: Go is not installed; rotor needs Go 1.26 or newer (https://go.dev/dl/)" >&2
		exit 1
	fi
	local v
	v=$(go env GOVERSION | sed 's/^go//')
	case "$v" in
	1.2[6-9]* | 1.[3-9]* | [2-9].*) ;;
	*) echo "error: rotor needs Go 1.26 or newer, found $v" >&2; exit 1 ;;
	esac
}
need_go

# Servers and tools the tests start themselves are installed here as the test suite grows
# (PostgreSQL, nginx, Pebble, Prometheus…); the spine's tests need none.

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "error: gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 ./...

echo "== fuzz ($FUZZTIME each)"
fuzz() { # package target
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1"
}
fuzz ./internal/inventory FuzzLoad
fuzz ./internal/schedule FuzzParseDuration
for target in $(go test -list '^Fuzz' ./internal/secret | grep '^Fuzz'); do
	fuzz ./internal/secret "$target"
done

echo "== all tests passed"
