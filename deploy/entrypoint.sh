#!/bin/sh
# PromptLedger's container entrypoint: one image, every service.
#
#   entrypoint.sh [serve [COMPONENT...]]  apply migrations, write runtime-config.toml,
#                                         exec `spin up` with the chosen components
#   entrypoint.sh migrate                 apply migrations only (release / pre-deploy phase)
#   entrypoint.sh beat-call               POST /v1/internal/beat once (for cron schedulers)
#   entrypoint.sh components [COMPONENT...]  print the components `serve` would run
#   entrypoint.sh healthcheck             exit 0 when this container serves (HEALTHCHECK)
#
# Components come from the arguments, else PROMPTLEDGER_COMPONENTS (comma or
# space separated ids, `http` for every HTTP component, `all`); the default is
# all of them minus Redis-triggered ones when REDIS_URL is empty and minus cron
# ones when the trigger-cron plugin is absent.
# Environment: API_KEY (required to serve), DATABASE_URL (empty: SQLite in
# PROMPTLEDGER_DATA_DIR), DATABASE_SSLMODE, REDIS_URL, OPENAI_*, ANTHROPIC_*,
# RETENTION_DAYS, PORT (3000), PROMPTLEDGER_LISTEN_HOST (0.0.0.0; `::` for
# IPv6 and IPv4), PROMPTLEDGER_DB_WAIT (seconds, 60), PROMPTLEDGER_MIGRATE (0
# skips migrations in `serve`), PROMPTLEDGER_URL (beat-call target),
# PROMPTLEDGER_RUN_DIR, PROMPTLEDGER_DRY_RUN=1 (print what would run, write
# the runtime config, start nothing), SPIN_BIN, PROMPTLEDGER_BIN.
set -eu

# Some platforms hand their run command to ENTRYPOINT as arguments, so the
# script can see its own path first.
case "${1:-}" in
    */entrypoint.sh | entrypoint.sh) shift ;;
esac

APP_DIR=${PROMPTLEDGER_APP_DIR:-$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)}
MANIFEST=$APP_DIR/spin.toml
PORT=${PORT:-3000}
DRY_RUN=${PROMPTLEDGER_DRY_RUN:-0}
# shellcheck source=scripts/spin-env.sh
. "$APP_DIR/scripts/spin-env.sh"

log() { printf 'promptledger: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}
dry_run() { [ "$DRY_RUN" = 1 ]; }

# Hides the password in a URL and the value of a secret.
mask_url() { printf '%s\n' "$1" | sed 's|://\([^:/@]*\):[^@/]*@|://\1:***@|'; }
mask_secret() { if [ -n "$1" ]; then echo '***'; fi; }

data_dir() {
    dir=${PROMPTLEDGER_DATA_DIR:-$APP_DIR/.data}
    if mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]; then
        printf '%s\n' "$dir"
        return
    fi
    fallback=${TMPDIR:-/tmp}/promptledger-data
    log "warning: $dir is not writable; using $fallback, which does not survive a restart"
    mkdir -p "$fallback"
    printf '%s\n' "$fallback"
}

# Runtime files (the runtime config holds REDIS_URL): kept off the data volume.
run_dir() {
    dir=${PROMPTLEDGER_RUN_DIR:-${TMPDIR:-/tmp}/promptledger-run}
    mkdir -p "$dir"
    chmod 700 "$dir"
    printf '%s\n' "$dir"
}

toml_string() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }

# runtime-config.toml has no environment substitution, so it is written here
# (printf, not echo: dash's echo interprets backslashes).
write_runtime_config() {
    data=$1
    file=$2
    (
        umask 077
        {
            echo "# Written by deploy/entrypoint.sh at start; edits are overwritten."
            printf 'state_dir = %s\n' "$(toml_string "$data/spin-state")"
            echo "# Component output goes to stdout/stderr only, not to log files."
            echo 'log_dir = ""'
            echo
            echo "[sqlite_database.default]"
            echo 'type = "spin"'
            printf 'path = %s\n' "$(toml_string "$data/promptledger.db")"
            echo
            echo "[key_value_store.default]"
            if [ -n "${REDIS_URL:-}" ]; then
                echo "# Shares the Redis database with the queue: key-value keys need a namespace prefix."
                echo 'type = "redis"'
                printf 'url = %s\n' "$(toml_string "$REDIS_URL")"
            else
                echo 'type = "spin"'
                printf 'path = %s\n' "$(toml_string "$data/kv.db")"
            fi
        } >"$file.tmp"
    )
    mv "$file.tmp" "$file"
}

migrate_bin() {
    if [ -n "${PROMPTLEDGER_BIN:-}" ]; then
        printf '%s\n' "$PROMPTLEDGER_BIN"
    elif command -v promptledger >/dev/null 2>&1; then
        command -v promptledger
    elif [ -x "$APP_DIR/target/release/promptledger" ]; then
        printf '%s\n' "$APP_DIR/target/release/promptledger"
    else
        echo promptledger
    fi
}

# Applies migrations; the deploy fails when they do. The CLI itself waits up
# to PROMPTLEDGER_DB_WAIT seconds for a database that is still starting.
run_migrations() {
    data=$1
    bin=$(migrate_bin)
    database_url=$(promptledger_database_url)
    if [ -z "$database_url" ]; then
        log "no DATABASE_URL: using the SQLite database $data/promptledger.db"
    fi
    if dry_run; then
        printf '%s\n' "dry-run: migrate: DATABASE_URL=$(mask_url "$database_url") $bin migrate --sqlite $data/promptledger.db --wait ${PROMPTLEDGER_DB_WAIT:-60}"
        return
    fi
    command -v "$bin" >/dev/null 2>&1 || die "the promptledger CLI ($bin) is missing; set PROMPTLEDGER_BIN"
    DATABASE_URL=$database_url "$bin" migrate --sqlite "$data/promptledger.db" --wait "${PROMPTLEDGER_DB_WAIT:-60}" ||
        die "migrations failed: not starting (a previous deployment, if any, keeps serving; fix the cause and redeploy)"
}

listen_address() {
    host=${PROMPTLEDGER_LISTEN_HOST:-0.0.0.0}
    case "$host" in
        \[*) ;;
        *:*) host="[$host]" ;;
    esac
    printf '%s\n' "$host:$PORT"
}

# Where the health check connects: loopback when listening on every address.
health_host() {
    host=${PROMPTLEDGER_LISTEN_HOST:-0.0.0.0}
    case "$host" in
        0.0.0.0 | :: | '[::]') echo 127.0.0.1 ;;
        \[*) printf '%s\n' "$host" ;;
        *:*) printf '%s\n' "[$host]" ;;
        *) printf '%s\n' "$host" ;;
    esac
}

select_components() {
    if [ $# -gt 0 ]; then
        request="$*"
    else
        request=${PROMPTLEDGER_COMPONENTS:-}
    fi
    promptledger_select_components "$MANIFEST" "$request" ||
        die "cannot choose the components to run (PROMPTLEDGER_COMPONENTS='${PROMPTLEDGER_COMPONENTS:-}')"
}

serve() {
    promptledger_spin_env || die "not starting: set API_KEY to a long random secret (e.g. openssl rand -hex 32)"
    components=$(select_components "$@")
    spin=${SPIN_BIN:-spin}
    if ! dry_run; then
        command -v "$spin" >/dev/null 2>&1 || die "no spin binary ($spin) on PATH"
    fi

    data=$(data_dir)
    run=$(run_dir)
    write_runtime_config "$data" "$run/runtime-config.toml"
    if [ "${PROMPTLEDGER_MIGRATE:-1}" != 0 ]; then
        run_migrations "$data"
    fi

    set -- "$spin" up --from "$MANIFEST" --runtime-config-file "$run/runtime-config.toml"
    # --listen belongs to the HTTP trigger: other triggers reject it.
    # shellcheck disable=SC2086 # one word per component
    if promptledger_has_http "$MANIFEST" $components; then
        set -- "$@" --listen "$(listen_address)"
        printf '%s\n' "http $(health_host) $PORT" >"$run/serving"
    else
        printf '%s\n' "none" >"$run/serving"
    fi
    for component in $components; do
        set -- "$@" --component-id "$component"
    done
    log "components: $components"

    if dry_run; then
        printf '%s\n' "dry-run: runtime-config: $run/runtime-config.toml"
        env | grep '^SPIN_VARIABLE_' | sort | while IFS='=' read -r name value; do
            case "$name" in
                *_API_KEY) value=$(mask_secret "$value") ;;
                *_URL) value=$(mask_url "$value") ;;
            esac
            printf '%s\n' "dry-run: env: $name=$value"
        done
        printf '%s\n' "dry-run: exec: $*"
        exit 0
    fi
    exec "$@"
}

migrate_only() {
    run_migrations "$(data_dir)"
}

# One beat run through the internal route, for schedulers without the cron
# trigger (Render cron jobs, Railway cron services, Kubernetes CronJobs).
beat_call() {
    [ -n "${API_KEY:-}" ] || die "API_KEY is not set: POST /v1/internal/beat needs the admin key"
    url=${PROMPTLEDGER_URL:-http://127.0.0.1:$PORT}
    case "$url" in
        *://*) ;;
        *) url="http://$url" ;;
    esac
    url="${url%/}/v1/internal/beat"
    if dry_run; then
        printf '%s\n' "dry-run: beat-call: POST $url"
        return
    fi
    # The key goes through curl's config on stdin, not the command line.
    printf 'header = "X-API-Key: %s"\n' "$API_KEY" |
        curl --config - --silent --show-error --fail-with-body --retry 3 --retry-connrefused \
            --max-time "${PROMPTLEDGER_BEAT_TIMEOUT:-300}" -X POST "$url"
    echo
}

healthcheck() {
    state=$(cat "$(run_dir)/serving" 2>/dev/null || true)
    case "$state" in
        http\ *)
            # shellcheck disable=SC2086 # "http HOST PORT"
            set -- $state
            exec curl --silent --fail --output /dev/null --max-time 5 "http://$2:$3/health" ;;
        none) exit 0 ;;
        *) exit 1 ;;
    esac
}

command=${1:-serve}
[ $# -eq 0 ] || shift
case "$command" in
    serve) serve "$@" ;;
    migrate) migrate_only ;;
    beat-call) beat_call ;;
    components) select_components "$@" ;;
    healthcheck) healthcheck ;;
    -h | --help | help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$command' (serve, migrate, beat-call, components, healthcheck)" ;;
esac
