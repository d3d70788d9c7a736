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
# (nginx, Pebble, Prometheus… as their issues land).

apt_updated=
apt_install() { # package...: apt-get install, as root or through sudo; apt-get update once
	local sudo=
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "error: the tests need $*, and apt-get is not available to install it; install it with your package manager" >&2
		exit 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "error: the tests need $*; installing it needs root and sudo is not installed" >&2
			echo "hint: as root: apt-get install -y --no-install-recommends $*" >&2
			exit 1
		fi
		sudo=sudo
	fi
	if [ -z "$apt_updated" ]; then
		echo "   ${sudo:+sudo }apt-get update"
		$sudo apt-get update -q
		apt_updated=1
	fi
	echo "   ${sudo:+sudo }apt-get install -y --no-install-recommends $*"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# PostgreSQL: internal/testenv starts its own password-checking clusters with initdb, found
# where it looks: $ROTOR_TEST_PG_BIN, pg_config --bindir, /usr/lib/postgresql/*/bin, PATH.
have_initdb() {
	local dir
	if [ -n "${ROTOR_TEST_PG_BIN:-}" ]; then
		if [ -x "$ROTOR_TEST_PG_BIN/initdb" ]; then
			return 0
		fi
		echo "error: ROTOR_TEST_PG_BIN=$ROTOR_TEST_PG_BIN holds no initdb; point it at a PostgreSQL bin directory or unset it" >&2
		exit 1
	fi
	if dir=$(pg_config --bindir 2>/dev/null) && [ -x "$dir/initdb" ]; then
		return 0
	fi
	for dir in /usr/lib/postgresql/*/bin; do
		if [ -x "$dir/initdb" ]; then
			return 0
		fi
	done
	command -v initdb >/dev/null 2>&1
}
if ! have_initdb; then
	echo "== install PostgreSQL (no initdb found)"
	apt_install postgresql
	if ! have_initdb; then
		echo "error: installed postgresql, but still no initdb in /usr/lib/postgresql/*/bin or PATH" >&2
		exit 1
	fi
fi

# Prometheus: internal/testenv starts its own on a free port of 127.0.0.1, found in
# $ROTOR_TEST_PROMETHEUS_BIN, PATH or /usr/bin. Debian's package also ships promtool.
have_prometheus() {
	if [ -n "${ROTOR_TEST_PROMETHEUS_BIN:-}" ]; then
		if [ -x "$ROTOR_TEST_PROMETHEUS_BIN" ]; then
			return 0
		fi
		echo "error: ROTOR_TEST_PROMETHEUS_BIN=$ROTOR_TEST_PROMETHEUS_BIN is not an executable; point it at a prometheus binary or unset it" >&2
		exit 1
	fi
	command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]
}
if ! have_prometheus; then
	echo "== install Prometheus (no prometheus found)"
	apt_install prometheus
	if ! have_prometheus; then
		echo "error: installed prometheus, but still no prometheus in PATH or /usr/bin" >&2
		exit 1
	fi
	# Where init lets it, the package starts a prometheus service on :9090 (and enables it).
	# The tests start their own; stop and disable the one the install started.
	as_root=
	if [ "$(id -u)" -ne 0 ]; then
		as_root=sudo
	fi
	if [ -d /run/systemd/system ]; then
		$as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		$as_root service prometheus stop >/dev/null 2>&1 || true
	fi
fi

# VictoriaLogs: internal/testenv starts its own on a free port of 127.0.0.1 (the logsql
# check's tests), found in $ROTOR_TEST_VICTORIALOGS_BIN, PATH or go's bin directory; or set
# ROTOR_TEST_VICTORIALOGS_URL to a running one. Not in Debian: built with go install, about
# 20 s with a warm module cache, 45 s cold (measured: 18 s and 44 s). The release is pinned: the tests were written
# against it (testenv.VictoriaLogsVersion).
VICTORIALOGS_VERSION=v1.52.2
have_victorialogs() {
	if [ -n "${ROTOR_TEST_VICTORIALOGS_URL:-}" ]; then
		return 0
	fi
	if [ -n "${ROTOR_TEST_VICTORIALOGS_BIN:-}" ]; then
		if [ -x "$ROTOR_TEST_VICTORIALOGS_BIN" ]; then
			return 0
		fi
		echo "error: ROTOR_TEST_VICTORIALOGS_BIN=$ROTOR_TEST_VICTORIALOGS_BIN is not an executable; point it at a victoria-logs binary or unset it" >&2
		exit 1
	fi
	local gobin
	gobin=$(go env GOBIN)
	gobin=${gobin:-$(go env GOPATH | cut -d: -f1)/bin}
	command -v victoria-logs >/dev/null 2>&1 || [ -x "$gobin/victoria-logs" ]
}
if ! have_victorialogs; then
	echo "== install VictoriaLogs $VICTORIALOGS_VERSION (no victoria-logs found)"
	echo "   go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION"
	go install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION"
	if ! have_victorialogs; then
		echo "error: installed victoria-logs, but it is not in PATH or $(go env GOPATH)/bin" >&2
		exit 1
	fi
fi

# nginx: internal/testenv starts its own (daemon off, pid file, logs and temp paths in a temp
# prefix) on a free port of 127.0.0.1, found in $ROTOR_TEST_NGINX_BIN, PATH or /usr/sbin.
# Debian's package: about 2 s here with the package lists fresh (10 s measured cold).
have_nginx() {
	if [ -n "${ROTOR_TEST_NGINX_BIN:-}" ]; then
		if [ -x "$ROTOR_TEST_NGINX_BIN" ]; then
			return 0
		fi
		echo "error: ROTOR_TEST_NGINX_BIN=$ROTOR_TEST_NGINX_BIN is not an executable; point it at an nginx binary or unset it" >&2
		exit 1
	fi
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
}
if ! have_nginx; then
	echo "== install nginx (no nginx found)"
	apt_install nginx
	if ! have_nginx; then
		echo "error: installed nginx, but still no nginx in PATH or /usr/sbin" >&2
		exit 1
	fi
	# Where init lets it, the package starts an nginx service on :80. The tests start their
	# own; stop and disable the one the install started.
	as_root=
	if [ "$(id -u)" -ne 0 ]; then
		as_root=sudo
	fi
	if [ -d /run/systemd/system ]; then
		$as_root systemctl disable --now nginx >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		$as_root service nginx stop >/dev/null 2>&1 || true
	fi
fi

# Pebble (Let's Encrypt's ACME test server): internal/testenv starts its own on free ports of
# 127.0.0.1: $ROTOR_TEST_PEBBLE_BIN as it is, else Pebble v$PEBBLE_VERSION found in PATH or
# $(go env GOPATH)/bin (by its Go build information). Pinned, and not Debian's 2.4.0: the
# tests need ACME Renewal Information (ARI, RFC 9773), which 2.4.0 does not offer. Built with
# go install, about 90 s cold. With $ROTOR_TEST_PEBBLE_DIR the tests use a running Pebble
# instead.
PEBBLE_VERSION=v2.10.1
pinned_pebble() {
	[ -x "$1" ] || return 1
	info=$(go version -m "$1" 2>/dev/null) || return 1
	printf '%s\n' "$info" | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/letsencrypt/pebble/v2[[:space:]]+$PEBBLE_VERSION([[:space:]]|\$)"
}
have_pebble() {
	if [ -n "${ROTOR_TEST_PEBBLE_BIN:-}" ]; then
		if [ -x "$ROTOR_TEST_PEBBLE_BIN" ]; then
			return 0
		fi
		echo "error: ROTOR_TEST_PEBBLE_BIN=$ROTOR_TEST_PEBBLE_BIN is not an executable; point it at a pebble binary or unset it" >&2
		exit 1
	fi
	[ -n "${ROTOR_TEST_PEBBLE_DIR:-}" ] || pinned_pebble "$(command -v pebble || true)" || pinned_pebble "$(go env GOPATH)/bin/pebble"
}
if ! have_pebble; then
	echo "== install Pebble $PEBBLE_VERSION (not found)"
	echo "   go install github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION"
	go install "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION"
	if ! have_pebble; then
		echo "error: installed pebble $PEBBLE_VERSION, but it is not in $(go env GOPATH)/bin" >&2
		exit 1
	fi
fi

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
fuzz ./internal/check/log FuzzParseLine
fuzz ./internal/check/log FuzzScan
fuzz ./internal/check/kql FuzzQuery
fuzz ./internal/pki FuzzDecode
for target in $(go test -list '^Fuzz' ./internal/secret | grep '^Fuzz'); do
	fuzz ./internal/secret "$target"
done

echo "== alert rules (promtool check rules, promtool test rules)"
if ! command -v promtool >/dev/null 2>&1; then
	apt_install prometheus # Debian's package ships promtool
	if ! command -v promtool >/dev/null 2>&1; then
		echo "error: installed prometheus, but still no promtool in PATH" >&2
		exit 1
	fi
fi
(
	cd deploy/prometheus
	promtool check rules *.rules.yml
	promtool test rules *.rules.test.yml
)

echo "== all tests passed"
