#!/usr/bin/env bash
# Tests of the container entrypoint's logic, without a container: the Spin
# variables it derives, the runtime-config.toml it writes, the components and
# the `spin up` command it chooses (PROMPTLEDGER_DRY_RUN=1), and its refusals.
# When a `spin` binary exists (PATH or SPIN_BIN), it also starts the app for
# real on SQLite, checks /health and stops it.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
repo=$(pwd)
entrypoint=$repo/deploy/entrypoint.sh

scratch=$(mktemp -d "${TMPDIR:-/tmp}/promptledger-entrypoint-test.XXXXXX")
spin_pid=""
cleanup() {
    if [ -n "$spin_pid" ]; then kill -- "-$spin_pid" 2>/dev/null; wait "$spin_pid" 2>/dev/null; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
    failed=$((failed + 1))
    echo "not ok - $1"
    shift
    for line in "$@"; do echo "    $line"; done
}
# check NAME COMMAND...: passes when the command succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}
contains() { [[ $1 == *"$2"* ]] || { echo "    expected to find: $2" >&2; echo "    in: $1" >&2; return 1; }; }
lacks() { [[ $1 != *"$2"* ]] || { echo "    expected not to find: $2" >&2; echo "    in: $1" >&2; return 1; }; }
equals() { [ "$1" = "$2" ] || { echo "    expected: '$2'" >&2; echo "    got:      '$1'" >&2; return 1; }; }

# A clean environment for each run: only what the test sets.
run_entrypoint() {
    env -i PATH="$PATH" HOME="$scratch/home" TMPDIR="$scratch/tmp" \
        SPIN_DATA_DIR="${SPIN_DATA_DIR_FOR_TEST:-$scratch/no-spin-data}" "$@"
}
mkdir -p "$scratch/home" "$scratch/tmp"

# An app whose manifest also has the Redis worker and the cron beat, for the
# selection rules (the real spin.toml may not have them yet).
fixture=$scratch/app
mkdir -p "$fixture/scripts" "$fixture/deploy"
cp "$repo/scripts/spin-env.sh" "$fixture/scripts/"
cp "$entrypoint" "$fixture/deploy/"
cat >"$fixture/spin.toml" <<'EOF'
spin_manifest_version = 2
[application]
name = "fixture"
[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/v1/prompts/..."
component = "prompts"
[[trigger.http]]
route = "/v1/executions/..."
component = "executions"
[[trigger.http]]
route = "/v1/internal/..."
component = "executions"
[[trigger.redis]]
address = "{{ redis_url }}"
channel = "promptledger.executions"
component = "worker"
[[trigger.cron]]
component = "beat"
cron_expression = "0 * * * * *"
[component.health]
source = "health.wasm"
[component.health.build]
command = "true"
[component.prompts]
source = "prompts.wasm"
[component.executions]
source = "executions.wasm"
[component.worker]
source = "worker.wasm"
[component.beat]
source = "beat.wasm"
EOF
fake_spin_data=$scratch/spin-data
mkdir -p "$fake_spin_data/plugins/trigger-cron"
printf '#!/bin/sh\nexit 0\n' >"$fake_spin_data/plugins/trigger-cron/trigger-cron"
chmod +x "$fake_spin_data/plugins/trigger-cron/trigger-cron"

echo "# scripts/spin-env.sh"
# shellcheck source=scripts/spin-env.sh
. "$repo/scripts/spin-env.sh"

check "url_host_port keeps an explicit port" equals "$(url_host_port 'postgres://u:p@db.internal:6543/pl?sslmode=disable' 5432)" "db.internal:6543"
check "url_host_port adds the default port (Spin matches hosts literally)" equals "$(url_host_port 'postgresql://u:p@dpg-abc-a/pl' 5432)" "dpg-abc-a:5432"
check "url_host_port handles IPv6 literals" equals "$(url_host_port 'postgres://[::1]/pl' 5432)" "[::1]:5432"
check "url_host_port drops credentials containing @" equals "$(url_host_port 'redis://default:p%40ss@redis.railway.internal:6379' 6379)" "redis.railway.internal:6379"
check "url_origin keeps scheme and host only" equals "$(url_origin 'https://api.openai.com/v1')" "https://api.openai.com"
check "postgresql:// becomes postgres://" equals "$(DATABASE_URL='postgresql://u:p@h:5432/d' promptledger_database_url)" "postgres://u:p@h:5432/d"
check "DATABASE_SSLMODE is appended" equals "$(DATABASE_URL='postgres://u:p@h/d' DATABASE_SSLMODE=disable promptledger_database_url)" "postgres://u:p@h/d?sslmode=disable"
check "DATABASE_SSLMODE joins an existing query" equals "$(DATABASE_URL='postgres://u:p@h/d?application_name=pl' DATABASE_SSLMODE=disable promptledger_database_url)" "postgres://u:p@h/d?application_name=pl&sslmode=disable"
check "an explicit sslmode wins over DATABASE_SSLMODE" equals "$(DATABASE_URL='postgres://u:p@h/d?sslmode=require' DATABASE_SSLMODE=disable promptledger_database_url)" "postgres://u:p@h/d?sslmode=require"

spin_env_out=$(
    env -i PATH="$PATH" bash -c '
        . scripts/spin-env.sh
        API_KEY=k-123 DATABASE_URL="postgresql://u:pw@pg.internal/pl" REDIS_URL="redis://:pw@cache:6380" \
            OPENAI_BASE_URL="http://127.0.0.1:11434/v1" ANTHROPIC_BASE_URL="https://proxy.example/anthropic" RETENTION_DAYS=30
        export API_KEY DATABASE_URL REDIS_URL OPENAI_BASE_URL ANTHROPIC_BASE_URL RETENTION_DAYS
        promptledger_spin_env && env | grep "^SPIN_VARIABLE_" | sort'
)
check "spin variables: api_key" contains "$spin_env_out" "SPIN_VARIABLE_API_KEY=k-123"
check "spin variables: database_url normalised" contains "$spin_env_out" "SPIN_VARIABLE_DATABASE_URL=postgres://u:pw@pg.internal/pl"
check "spin variables: db_host with default port" contains "$spin_env_out" "SPIN_VARIABLE_DB_HOST=pg.internal:5432"
check "spin variables: redis_host" contains "$spin_env_out" "SPIN_VARIABLE_REDIS_HOST=cache:6380"
check "spin variables: openai_origin" contains "$spin_env_out" "SPIN_VARIABLE_OPENAI_ORIGIN=http://127.0.0.1:11434"
check "spin variables: anthropic_origin" contains "$spin_env_out" "SPIN_VARIABLE_ANTHROPIC_ORIGIN=https://proxy.example"
check "spin variables: retention_days" contains "$spin_env_out" "SPIN_VARIABLE_RETENTION_DAYS=30"
check "promptledger_spin_env fails without API_KEY" bash -c '. scripts/spin-env.sh; unset API_KEY; ! promptledger_spin_env 2>/dev/null'

pick() { (unset REDIS_URL; export SPIN_DATA_DIR="$1"; shift; promptledger_select_components "$fixture/spin.toml" "$@" 2>/dev/null); }
check "default set without Redis or cron plugin: no worker, no beat" equals "$(pick "$scratch/none")" "health prompts executions"
check "default set with the cron plugin: beat too" equals "$(pick "$fake_spin_data")" "health prompts executions beat"
check "default set with Redis and the plugin: everything" equals "$(REDIS_URL=redis://r:6379 SPIN_DATA_DIR=$fake_spin_data promptledger_select_components "$fixture/spin.toml" 2>/dev/null)" "health prompts executions worker beat"
check "http means every HTTP component" equals "$(pick "$scratch/none" http)" "health prompts executions"
check "commas and spaces both separate; duplicates drop" equals "$(pick "$scratch/none" "health,executions health")" "health executions"
check "naming worker without REDIS_URL fails" bash -c "! (. scripts/spin-env.sh; unset REDIS_URL; promptledger_select_components '$fixture/spin.toml' worker 2>/dev/null)"
check "naming beat without the plugin fails" bash -c "! (. scripts/spin-env.sh; SPIN_DATA_DIR=$scratch/none promptledger_select_components '$fixture/spin.toml' beat 2>/dev/null)"
check "an unknown component fails" bash -c "! (. scripts/spin-env.sh; promptledger_select_components '$fixture/spin.toml' nope 2>/dev/null)"
check "the real spin.toml has HTTP components" bash -c ". scripts/spin-env.sh; promptledger_has_http spin.toml \$(promptledger_manifest_components spin.toml)"

echo "# deploy/entrypoint.sh (dry run)"
out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 PROMPTLEDGER_DATA_DIR="$scratch/data" PROMPTLEDGER_RUN_DIR="$scratch/run" "$entrypoint" serve 2>&1)
status=$?
check "refuses to serve without API_KEY (non-zero exit)" test "$status" -ne 0
check "the refusal names API_KEY" contains "$out" "API_KEY"
check "nothing is started or written without API_KEY" test ! -e "$scratch/run/runtime-config.toml"

out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 API_KEY=test-key PROMPTLEDGER_DATA_DIR="$scratch/data" \
    PROMPTLEDGER_RUN_DIR="$scratch/run" "$entrypoint" 2>&1)
status=$?
rc_file=$scratch/run/runtime-config.toml
expected_components=$(SPIN_DATA_DIR="${SPIN_DATA_DIR_FOR_TEST:-$scratch/no-spin-data}" REDIS_URL="" promptledger_select_components "$repo/spin.toml" 2>/dev/null)
check "SQLite default: starts (exit 0)" test "$status" -eq 0
check "SQLite default: migrates the SQLite file in the data dir" contains "$out" "dry-run: migrate: DATABASE_URL= "
check "SQLite default: migrate --sqlite path" contains "$out" "migrate --sqlite $scratch/data/promptledger.db --wait 60"
check "SQLite default: runtime config pins the SQLite file" contains "$(cat "$rc_file")" "[sqlite_database.default]
type = \"spin\"
path = \"$scratch/data/promptledger.db\""
check "SQLite default: key-value store on disk" contains "$(cat "$rc_file")" "[key_value_store.default]
type = \"spin\"
path = \"$scratch/data/kv.db\""
check "SQLite default: state dir in the data dir, no log files" contains "$(cat "$rc_file")" "state_dir = \"$scratch/data/spin-state\"
# Component output goes to stdout/stderr only, not to log files.
log_dir = \"\""
check "runtime config is private (0600)" equals "$(stat -c %a "$rc_file")" "600"
check "listens on 0.0.0.0:3000 by default" contains "$out" "--listen 0.0.0.0:3000"
check "spin up gets the manifest and the runtime config" contains "$out" "dry-run: exec: spin up --from $repo/spin.toml --runtime-config-file $rc_file"
want_ids=""
for c in $expected_components; do want_ids="$want_ids --component-id $c"; done
check "runs every component that can run here ($expected_components)" contains "$out" "--listen 0.0.0.0:3000$want_ids"
check "no worker without REDIS_URL" lacks "$out" "--component-id worker"
check "the health check knows where to connect" equals "$(cat "$scratch/run/serving")" "http 127.0.0.1 3000"

out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 API_KEY=s3cr3t-admin-key \
    DATABASE_URL='postgresql://pl:db-pa55@pg.internal/promptledger' DATABASE_SSLMODE=disable \
    REDIS_URL='redis://default:redis-pa55@cache.internal:6379' OPENAI_API_KEY=sk-openai-secret \
    PORT=8080 PROMPTLEDGER_LISTEN_HOST=:: PROMPTLEDGER_COMPONENTS='health, executions' \
    PROMPTLEDGER_DATA_DIR="$scratch/data2" PROMPTLEDGER_RUN_DIR="$scratch/run2" "$entrypoint" serve 2>&1)
rc2=$(cat "$scratch/run2/runtime-config.toml")
check "Postgres: migrations get the normalised URL (masked in output)" contains "$out" "DATABASE_URL=postgres://pl:***@pg.internal/promptledger?sslmode=disable"
check "Postgres: db_host derived" contains "$out" "SPIN_VARIABLE_DB_HOST=pg.internal:5432"
check "Redis: redis_host derived" contains "$out" "SPIN_VARIABLE_REDIS_HOST=cache.internal:6379"
check "Redis: the key-value store moves to Redis" contains "$rc2" "[key_value_store.default]
# Shares the Redis database with the queue: key-value keys need a namespace prefix.
type = \"redis\"
url = \"redis://default:redis-pa55@cache.internal:6379\""
check "IPv6 listen host is bracketed, PORT honoured" contains "$out" "--listen [::]:8080"
check "PROMPTLEDGER_COMPONENTS picks exactly those components" contains "$out" "--listen [::]:8080 --component-id health --component-id executions"
check "PROMPTLEDGER_COMPONENTS: nothing else" lacks "$out" "--component-id prompts"
for secret in s3cr3t-admin-key db-pa55 redis-pa55 sk-openai-secret; do
    check "the output never shows the secret '$secret'" lacks "$out" "$secret"
done
check "secrets are masked, not dropped" contains "$out" "SPIN_VARIABLE_API_KEY=***"

out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 API_KEY=k REDIS_URL='redis://r:6379' \
    PROMPTLEDGER_DATA_DIR="$scratch/data3" PROMPTLEDGER_RUN_DIR="$scratch/run3" \
    "$fixture/deploy/entrypoint.sh" serve worker 2>&1)
check "arguments choose the components (worker only)" contains "$out" "--component-id worker"
check "a set without HTTP components gets no --listen (other triggers reject it)" lacks "$out" "--listen"
check "... and the health check only watches the process" equals "$(cat "$scratch/run3/serving")" "none"
check "healthcheck passes for a container without HTTP" run_entrypoint PROMPTLEDGER_RUN_DIR="$scratch/run3" "$fixture/deploy/entrypoint.sh" healthcheck
check "healthcheck fails before the app has started" bash -c "! env -i PATH=\"$PATH\" PROMPTLEDGER_RUN_DIR=$scratch/empty-run $entrypoint healthcheck"

out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 API_KEY=k PROMPTLEDGER_DATA_DIR="$scratch/data4" \
    PROMPTLEDGER_RUN_DIR="$scratch/run4" "$fixture/deploy/entrypoint.sh" serve worker 2>&1)
status=$?
check "worker without REDIS_URL is refused" test "$status" -ne 0
check "... saying why" contains "$out" "REDIS_URL is empty"
out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 API_KEY=k PROMPTLEDGER_DATA_DIR="$scratch/data4" \
    PROMPTLEDGER_RUN_DIR="$scratch/run4" "$fixture/deploy/entrypoint.sh" serve beat 2>&1)
status=$?
check "beat without the trigger-cron plugin is refused" test "$status" -ne 0
check "... naming the plugin" contains "$out" "trigger-cron"
out=$(SPIN_DATA_DIR_FOR_TEST=$fake_spin_data run_entrypoint PROMPTLEDGER_DRY_RUN=1 API_KEY=k \
    PROMPTLEDGER_DATA_DIR="$scratch/data4" PROMPTLEDGER_RUN_DIR="$scratch/run4" "$fixture/deploy/entrypoint.sh" 2>&1)
check "with the plugin installed the default set includes beat" contains "$out" "--component-id executions --component-id beat"
check "... and still no worker without REDIS_URL" contains "$out" "not running worker: REDIS_URL is empty"
out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 API_KEY=k PROMPTLEDGER_COMPONENTS=nope \
    PROMPTLEDGER_RUN_DIR="$scratch/run4" "$entrypoint" 2>&1)
status=$?
check "an unknown component is refused" test "$status" -ne 0
check "... listing the known ones" contains "$out" "unknown component 'nope' (spin.toml has: health"

out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 API_KEY=k REDIS_URL='redis://:a"b\c@r:6379' \
    PROMPTLEDGER_DATA_DIR="$scratch/data5" PROMPTLEDGER_RUN_DIR="$scratch/run5" "$entrypoint" serve health 2>&1)
check "TOML strings are escaped" contains "$(cat "$scratch/run5/runtime-config.toml")" 'url = "redis://:a\"b\\c@r:6379"'

out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 PROMPTLEDGER_DATA_DIR=/dev/null/data PROMPTLEDGER_RUN_DIR="$scratch/run6" \
    API_KEY=k "$entrypoint" serve health 2>&1)
check "an unwritable data dir falls back to a temporary one, loudly" contains "$out" "/dev/null/data is not writable; using $scratch/tmp/promptledger-data"

out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 DATABASE_URL='postgres://u:pw@db:5432/pl' PROMPTLEDGER_DB_WAIT=5 \
    PROMPTLEDGER_DATA_DIR="$scratch/data7" "$entrypoint" migrate 2>&1)
status=$?
check "migrate mode needs no API_KEY" test "$status" -eq 0
check "migrate mode gets the database URL (masked)" contains "$out" "dry-run: migrate: DATABASE_URL=postgres://u:***@db:5432/pl "
check "migrate mode waits for the database as asked" contains "$out" "promptledger migrate --sqlite $scratch/data7/promptledger.db --wait 5"
check "migrate mode starts nothing" lacks "$out" "spin up"
out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 PROMPTLEDGER_DATA_DIR="$scratch/data7" \
    "$entrypoint" /app/deploy/entrypoint.sh migrate 2>&1)
check "its own path as first argument is skipped (platforms that pass the command to ENTRYPOINT)" contains "$out" "dry-run: migrate:"

out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 API_KEY=k PROMPTLEDGER_URL=promptledger:10000 "$entrypoint" beat-call 2>&1)
check "beat-call posts to the internal route (scheme added)" contains "$out" "dry-run: beat-call: POST http://promptledger:10000/v1/internal/beat"
out=$(run_entrypoint PROMPTLEDGER_DRY_RUN=1 "$entrypoint" beat-call 2>&1)
status=$?
check "beat-call refuses without API_KEY" test "$status" -ne 0
check "... naming API_KEY" contains "$out" "API_KEY is not set"
out=$(run_entrypoint "$entrypoint" frobnicate 2>&1)
status=$?
check "an unknown command is refused" test "$status" -ne 0

echo "# deploy/entrypoint.sh under a real spin up"
spin_bin=${SPIN_BIN:-$(command -v spin || true)}
missing=""
for c in $(promptledger_manifest_components "$repo/spin.toml"); do
    source=$(awk -v c="$c" '$0 == "[component." c "]" { f = 1; next } /^\[/ { f = 0 } f && /^source[ \t]*=/ { s = $0; sub(/^[^"]*"/, "", s); sub(/".*$/, "", s); print s }' "$repo/spin.toml")
    [ -f "$repo/$source" ] || missing="$missing $source"
done
cli=""
for candidate in "${PROMPTLEDGER_BIN:-}" "$repo/target/release/promptledger" "$repo/target/debug/promptledger"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then cli=$candidate; break; fi
done
if [ -z "$spin_bin" ] || [ ! -x "$spin_bin" ]; then
    echo "SKIPPED entrypoint under spin up: no spin binary on PATH (or SPIN_BIN)"
elif [ -n "$missing" ]; then
    echo "SKIPPED entrypoint under spin up: components not built:$missing (scripts/test builds them)"
else
    if [ -z "$cli" ]; then
        echo "building the promptledger CLI (debug) for the migrations"
        cargo build --quiet -p ledger-native --bin promptledger && cli=$repo/target/debug/promptledger
    fi
    # live NAME WANT ENV...: starts `entrypoint.sh serve` with ENV in
    # its own process group (stopped as a whole, like tini -g in the image:
    # `spin up` runs each trigger as a child process), checks /health, the
    # admin key and the healthcheck mode, then stops it with SIGTERM. WANT:
    # substrings the /health body must contain, separated by `|`.
    live() {
        local name=$1 want=$2
        shift 2
        local port log health keys stopped
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        log=$scratch/spin-$name.log
        rm -rf "$scratch/live-run"
        setsid env -i PATH="$PATH" HOME="$scratch/home" TMPDIR="$scratch/tmp" SPIN_DATA_DIR="$scratch/no-spin-data" \
            API_KEY=live-test-key PORT="$port" SPIN_BIN="$spin_bin" PROMPTLEDGER_BIN="$cli" \
            PROMPTLEDGER_RUN_DIR="$scratch/live-run" "$@" "$entrypoint" serve >"$log" 2>&1 &
        spin_pid=$!
        health=""
        for _ in $(seq 1 90); do
            health=$(curl -s --max-time 2 "http://127.0.0.1:$port/health" || true)
            [ -n "$health" ] && break
            kill -0 "$spin_pid" 2>/dev/null || break
            sleep 1
        done
        local found=yes part
        IFS='|' read -ra parts <<<"$want"
        for part in "${parts[@]}" '"status":"ok","version"'; do
            [[ $health == *"$part"* ]] || found=no
        done
        if [ "$found" = yes ]; then
            ok "spin up via the entrypoint ($name): /health is ok"
        else
            not_ok "spin up via the entrypoint ($name): /health is ok" "health: $health" "log:" "$(tail -n 30 "$log")"
        fi
        keys=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "X-API-Key: live-test-key" "http://127.0.0.1:$port/v1/api-keys" || true)
        check "spin up via the entrypoint ($name): the admin key from API_KEY works" equals "$keys" "200"
        check "spin up via the entrypoint ($name): the healthcheck mode agrees" \
            run_entrypoint PROMPTLEDGER_RUN_DIR="$scratch/live-run" "$entrypoint" healthcheck
        kill -TERM -- "-$spin_pid" 2>/dev/null
        stopped=no
        for _ in $(seq 1 20); do
            if ! kill -0 -- "-$spin_pid" 2>/dev/null; then stopped=yes; break; fi
            sleep 0.5
        done
        wait "$spin_pid" 2>/dev/null
        spin_pid=""
        check "spin up via the entrypoint ($name): stops on SIGTERM" equals "$stopped" "yes"
    }

    live "SQLite, listening on ::" '"dialect":"sqlite"' PROMPTLEDGER_LISTEN_HOST=:: PROMPTLEDGER_DATA_DIR="$scratch/live-data"
    check "spin up via the entrypoint (SQLite): migrations created the database file" test -s "$scratch/live-data/promptledger.db"

    # PostgreSQL and Redis as a platform hands them over: a postgresql:// URL
    # without a port, sslmode from DATABASE_SSLMODE, the key-value store on Redis.
    server=${TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable}
    server=${server%/*}
    database=pl_entrypoint_$$
    if command -v psql >/dev/null 2>&1 && psql "$server/postgres?sslmode=disable" -qc "CREATE DATABASE $database" >/dev/null 2>&1 &&
        redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
        live "PostgreSQL and Redis" '"dialect":"postgres"|"redis":{"latency_ms"' \
            DATABASE_URL="postgresql://${server#*://}/$database" DATABASE_SSLMODE=disable REDIS_URL=redis://127.0.0.1:6379 \
            PROMPTLEDGER_DATA_DIR="$scratch/live-data-pg"
        psql "$server/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1
    else
        echo "SKIPPED entrypoint under spin up on PostgreSQL and Redis: no PostgreSQL (psql, $server) or Redis on 127.0.0.1"
    fi
fi

echo "entrypoint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
