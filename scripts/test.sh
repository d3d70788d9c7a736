#!/usr/bin/env bash
# Installs what rotor's tests need and runs all of them: formatting, vet, every test, and a
# short run of each fuzz target. .ci/run calls exactly this script.
#
#   scripts/test.sh                everything (about five minutes on 2 cores, warm cache)
#   FUZZTIME=2m scripts/test.sh    fuzz each target for a duration instead of a fixed count
set -euo pipefail
cd "$(dirname "$0")/.."

# Fuzzing is bounded by a count of inputs per target unless FUZZTIME asks for a duration: with
# a duration, Go 1.26's fuzz coordinator can report "context deadline exceeded" as a failure
# when the time is up while a worker is busy (go.dev/issue/75804, fixed in Go 1.27), and did
# so here for FuzzDecode with no failing input.
FUZZTIME=${FUZZTIME:-}

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

# The servers the tests start themselves (internal/testenv) are installed here when missing:
# ensure NAME CHECK INSTALL… runs CHECK, and if it fails, INSTALL, then CHECK again.

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

# apt_install_server PACKAGE: install it, then stop and disable the service the package starts
# where init lets it (Prometheus on :9090, nginx on :80): the tests start their own.
apt_install_server() {
	apt_install "$1"
	local as_root=
	if [ "$(id -u)" -ne 0 ]; then
		as_root=sudo
	fi
	if [ -d /run/systemd/system ]; then
		$as_root systemctl disable --now "$1" >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		$as_root service "$1" stop >/dev/null 2>&1 || true
	fi
}

go_install() { # module@version
	echo "   go install $1"
	go install "$1"
}

# override VAR NAME: 0 when $VAR names an executable, 1 when VAR is unset; a VAR naming
# anything else stops the script, saying so.
override() {
	local v=${!1:-}
	[ -n "$v" ] || return 1
	[ -x "$v" ] && return 0
	echo "error: $1=$v is not an executable; point it at the $2 binary or unset it" >&2
	exit 1
}

gobin() {
	local d
	d=$(go env GOBIN)
	echo "${d:-$(go env GOPATH | cut -d: -f1)/bin}"
}

ensure() { # name check install...
	local name=$1 check=$2
	shift 2
	"$check" && return 0
	echo "== install $name (not found)"
	"$@"
	if ! "$check"; then
		echo "error: installed $name, but the tests still cannot find it (see $check in scripts/test.sh)" >&2
		exit 1
	fi
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
ensure PostgreSQL have_initdb apt_install postgresql

# MariaDB (the mysql authority): mariadbd and mariadb-install-db in $ROTOR_TEST_MARIADB_BIN,
# PATH, /usr/sbin or /usr/bin. Tests start their own server on a free port; never the system's
# (its service is named mariadb, so apt_install_server leaves it as the package started it).
have_mariadb() {
	if [ -n "${ROTOR_TEST_MARIADB_BIN:-}" ]; then
		[ -x "$ROTOR_TEST_MARIADB_BIN/mariadbd" ] && return 0
		echo "ROTOR_TEST_MARIADB_BIN=$ROTOR_TEST_MARIADB_BIN holds no mariadbd" >&2
		return 1
	fi
	command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]
}
ensure MariaDB have_mariadb apt_install_server mariadb-server

# Prometheus: $ROTOR_TEST_PROMETHEUS_BIN, PATH or /usr/bin. Debian's package also ships
# promtool, which checks and unit-tests the alert rules below.
have_prometheus() {
	override ROTOR_TEST_PROMETHEUS_BIN prometheus || command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]
}
ensure Prometheus have_prometheus apt_install_server prometheus

# VictoriaLogs (the logsql check): $ROTOR_TEST_VICTORIALOGS_BIN, PATH or go's bin directory;
# or $ROTOR_TEST_VICTORIALOGS_URL, a running one. Not in Debian: go install, about 20 s with a
# warm module cache, 45 s cold. Pinned: the tests were written against it
# (testenv.VictoriaLogsVersion).
VICTORIALOGS_VERSION=v1.52.2
have_victorialogs() {
	[ -n "${ROTOR_TEST_VICTORIALOGS_URL:-}" ] || override ROTOR_TEST_VICTORIALOGS_BIN victoria-logs ||
		command -v victoria-logs >/dev/null 2>&1 || [ -x "$(gobin)/victoria-logs" ]
}
ensure "VictoriaLogs $VICTORIALOGS_VERSION" have_victorialogs \
	go_install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION"

# nginx: $ROTOR_TEST_NGINX_BIN, PATH or /usr/sbin. Debian's package: about 2 s with fresh
# package lists, 10 s cold.
have_nginx() {
	override ROTOR_TEST_NGINX_BIN nginx || command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
}
ensure nginx have_nginx apt_install_server nginx

# Redis (the redis authority): $ROTOR_TEST_REDIS_BIN, PATH or /usr/bin. Debian's package
# starts a redis-server on :6379 without auth; it is stopped: the tests start their own, with
# password checks on.
have_redis() {
	override ROTOR_TEST_REDIS_BIN redis-server || command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]
}
ensure Redis have_redis apt_install_server redis-server

# NATS (the nats authority): $ROTOR_TEST_NATS_BIN, PATH or /usr/sbin. The tests start their
# own nats-server on free ports with password checks on, never a machine's NATS on 4222.
have_nats() {
	override ROTOR_TEST_NATS_BIN nats-server || command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]
}
ensure NATS have_nats apt_install_server nats-server

# Pebble (Let's Encrypt's ACME test server): $ROTOR_TEST_PEBBLE_BIN as it is, else Pebble
# $PEBBLE_VERSION found in PATH or go's bin directory (by its Go build information), or
# $ROTOR_TEST_PEBBLE_DIR, a running one. Pinned, and not Debian's 2.4.0: the tests need ACME
# Renewal Information (RFC 9773), which 2.4.0 does not offer. go install, about 90 s cold.
PEBBLE_VERSION=v2.10.1
pinned_pebble() {
	[ -x "$1" ] || return 1
	info=$(go version -m "$1" 2>/dev/null) || return 1
	printf '%s\n' "$info" | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/letsencrypt/pebble/v2[[:space:]]+$PEBBLE_VERSION([[:space:]]|\$)"
}
have_pebble() {
	override ROTOR_TEST_PEBBLE_BIN pebble || [ -n "${ROTOR_TEST_PEBBLE_DIR:-}" ] ||
		pinned_pebble "$(command -v pebble || true)" || pinned_pebble "$(gobin)/pebble"
}
ensure "Pebble $PEBBLE_VERSION" have_pebble go_install "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION"

# SOPS (the sops store drives the real binary): $ROTOR_TEST_SOPS_BIN as it is, else SOPS
# $SOPS_VERSION found in PATH or go's bin directory (by its Go build information). Not in
# Debian: go install, about 2.5 to 4 minutes with a cold module cache (it brings every cloud
# KMS SDK), seconds once cached. Pinned: the tests were written against it (testenv.SOPSVersion).
SOPS_VERSION=v3.13.3
pinned_sops() {
	[ -x "$1" ] || return 1
	info=$(go version -m "$1" 2>/dev/null) || return 1
	printf '%s\n' "$info" | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/getsops/sops/v3[[:space:]]+$SOPS_VERSION([[:space:]]|\$)"
}
have_sops() {
	override ROTOR_TEST_SOPS_BIN sops || pinned_sops "$(command -v sops || true)" || pinned_sops "$(gobin)/sops"
}
ensure "SOPS $SOPS_VERSION" have_sops go_install "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION"

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

echo "== fuzz (${FUZZTIME:-a fixed count of inputs} each)"
fuzz() { # package target inputs: inputs is about 10 s of that target on this 2-core machine
	go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-$3x}" "$1"
}
fuzz ./internal/inventory FuzzLoad 8000
fuzz ./internal/schedule FuzzParseDuration 250000
fuzz ./internal/check/log FuzzParseLine 150000
fuzz ./internal/check/log FuzzScan 8000
fuzz ./internal/check/kql FuzzQuery 60000
fuzz ./internal/pki FuzzDecode 150000
fuzz ./internal/journal FuzzSeal 70000
for target in $(go test -list '^Fuzz' ./internal/secret | grep '^Fuzz'); do
	fuzz ./internal/secret "$target" 120000
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
