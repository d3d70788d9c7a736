#!/usr/bin/env bash
# A real rotation, end to end, in a temporary folder, on rotor's embedded default (SQLite):
# an API key kept in rotor's file store (age-encrypted per reader), a service (keysvc) that
# accepts it and logs the key id of every request, a script that reads it per request, and a
# client nobody declared that keeps the old key. Each rotor command is printed before it runs.
#
#   scripts/demo.sh          run it (about 20 s; needs only Go)
#   KEEP=1 scripts/demo.sh   keep the folder afterwards, to look around
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/rotor-demo.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${KEEP:-}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "building rotor and the demo programs into $work/bin …"
bin=$work/bin
go build -o "$bin/rotor" ./cmd/rotor
go build -o "$bin/keysvc" ./internal/e2e/testprog/keysvc
go build -o "$bin/keyclient" ./internal/e2e/testprog/keyclient
go build -o "$bin/age-keygen" filippo.io/age/cmd/age-keygen

inv=$work/inventory
mkdir -p "$inv/keys"
for id in rotor api ops; do "$bin/age-keygen" -o "$inv/keys/$id.key" 2>/dev/null; done
recipient() { "$bin/age-keygen" -y "$inv/keys/$1.key"; }
cat >"$inv/rotor.yaml" <<EOF
teams:
  team-api: {contact: api@example.test, approvers: [bob]}
identities:
  rotor: {type: age, recipient: $(recipient rotor), identity_file: keys/rotor.key}
  api:   {type: age, recipient: $(recipient api), identity_file: keys/api.key}
  ops:   {type: age, recipient: $(recipient ops), identity_file: keys/ops.key}
checks:
  api-call:    # a real call with the key the api consumer must now use
    type: exec
    timeout: 20s
    command: [$bin/keyclient, -dir, ../store, -name, partner-key, -identity, keys/api.key, -consumer, api,
              -url, "@../keysvc.addr", -client, check-api, -expect-current, -wait, 5s]
  ops-read:    # the script's identity reads the version it should
    type: exec
    command: [$bin/keyclient, -dir, ../store, -name, partner-key, -identity, keys/ops.key, -consumer, ops, -expect-current]
  old-key-unused:   # residual use: requests with the previous key id in keysvc's log
    type: log
    source: {type: file, path: ../keysvc.log, format: json, fields: {time: ts, host: client}}
    match: {key_id: previous}
    by: [host]
    bin: 1m
    window: 3s
    max: 0
credentials:
  partner-key:
    description: API key partners use to call the orders API
    kind: api-key
    owner: team-api
    critical: true
    store: {type: file, dir: ../store, identity: rotor}
    authority: {type: generated, strategy: overlap, prefix: ak_}
    rotate: {every: 30d}
    checks: [old-key-unused]
    consumers:
      api:
        kind: service
        identity: api
        reads: at-start
        accepts: true
        reload: {type: signal, pid_file: ../keysvc.pid}
        checks: [api-call]
      ops:
        kind: script
        identity: ops
        reads: per-request
        checks: [ops-read]
EOF

export ROTOR_STATE_DIR=$work/state ROTOR_INVENTORY=$inv
run() {
	printf '\n\033[1m$ rotor %s\033[0m\n' "$*"
	local rc=0
	"$bin/rotor" "$@" || rc=$?
	[ $rc = 0 ] || printf '(exit %d)\n' $rc
	return 0
}
runid() { "$bin/rotor" runs --all -o json | sed -n 's/.*"id": "\(r[^"]*\)".*/\1/p' | head -n 1; }

"$bin/keysvc" -dir "$work/store" -name partner-key -identity "$inv/keys/api.key" -addr-file "$work/keysvc.addr" \
	-pid-file "$work/keysvc.pid" -log "$work/keysvc.log" 2>"$work/keysvc.err" &
pids+=($!)
until [ -s "$work/keysvc.addr" ]; do sleep 0.1; done

run validate
run impact partner-key
echo; echo "# the first rotation makes the first value (nothing to revoke yet)"
run rotate partner-key --as alice

# The ops script calls the service with whatever is current; a legacy client nobody declared
# started with the first key and keeps it.
"$bin/keyclient" -dir "$work/store" -name partner-key -identity "$inv/keys/ops.key" -consumer ops \
	-url "@$work/keysvc.addr" -client ops-script -every 200ms -reread >/dev/null 2>&1 &
pids+=($!)
"$bin/keyclient" -dir "$work/store" -name partner-key -identity "$inv/keys/api.key" \
	-url "@$work/keysvc.addr" -client legacy-batch -every 200ms >"$work/legacy.out" 2>&1 &
legacy=$!
pids+=($legacy)
sleep 1

echo; echo "# rotate now: prepare, cutover; rotor waits for the 3 s residual-use window to fill, sees the"
echo "# legacy client still using the old key, and stops before revoke"
run rotate partner-key --now --as alice --wait 20s
run=$(runid)
echo; echo "# the legacy client is fixed (stopped); its use of the old key ages out of the 3 s window"
kill "$legacy"
sleep 4
run rotate partner-key --as alice --wait 20s
echo; echo "# four eyes: the initiator cannot approve; bob can"
run approve "$run" --as alice
run approve "$run" --as bob
run rotate partner-key --as alice
run journal verify "$run"
echo; echo "# the change ticket (first lines; --format html|json too)"
"$bin/rotor" journal "$run" | sed -n 1,24p
