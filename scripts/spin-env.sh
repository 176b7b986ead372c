# shellcheck shell=sh
# Maps the conventional environment (DATABASE_URL, REDIS_URL, API_KEY, ...)
# onto Spin variables, and picks the components to run. Sourced by
# scripts/run and the container entrypoint, so both wire the app the same way.
# POSIX sh (the container runs it under dash); helper variables are prefixed
# `_pl_` because sh functions have no locals.

# Prints host:port of a URL (scheme, credentials, path and query dropped).
# With a second argument, that port is added when the URL names none: Spin
# matches allowed_outbound_hosts literally.
url_host_port() {
    _pl_hostport=$(printf '%s\n' "$1" | sed -e 's|^[a-zA-Z0-9+.-]*://||' -e 's|^.*@||' -e 's|[/?#].*$||')
    case "$_pl_hostport" in
        *\]:*) ;;
        *\]) _pl_hostport="$_pl_hostport${2:+:$2}" ;;
        *:*) ;;
        *) _pl_hostport="$_pl_hostport${2:+:$2}" ;;
    esac
    printf '%s\n' "$_pl_hostport"
}

# Prints scheme://host[:port] of a URL.
url_origin() {
    _pl_scheme=$(printf '%s\n' "$1" | sed -n 's|^\([a-zA-Z0-9+.-]*\)://.*|\1|p')
    printf '%s://%s\n' "${_pl_scheme:-https}" "$(url_host_port "$1")"
}

# Prints DATABASE_URL as Spin needs it: `postgresql://` becomes `postgres://`
# (allowed_outbound_hosts compares schemes literally), and DATABASE_SSLMODE,
# when set, is added unless the URL already has an sslmode. Spin verifies the
# server certificate whenever it uses TLS, so a private network whose Postgres
# has a self-signed certificate (Railway, Render) sets DATABASE_SSLMODE=disable.
promptledger_database_url() {
    _pl_url=${DATABASE_URL:-}
    [ -n "$_pl_url" ] || return 0
    case "$_pl_url" in
        postgresql://*) _pl_url="postgres://${_pl_url#postgresql://}" ;;
    esac
    if [ -n "${DATABASE_SSLMODE:-}" ]; then
        case "$_pl_url" in
            *sslmode=*) ;;
            *\?*) _pl_url="$_pl_url&sslmode=$DATABASE_SSLMODE" ;;
            *) _pl_url="$_pl_url?sslmode=$DATABASE_SSLMODE" ;;
        esac
    fi
    printf '%s\n' "$_pl_url"
}

# Exports SPIN_VARIABLE_* from the conventional names. Fails when API_KEY is unset.
promptledger_spin_env() {
    if [ -z "${API_KEY:-}" ]; then
        echo "API_KEY is not set: it is the bootstrap admin key every /v1 request needs" >&2
        return 1
    fi
    _pl_url=$(promptledger_database_url)
    export SPIN_VARIABLE_API_KEY="$API_KEY"
    export SPIN_VARIABLE_DATABASE_URL="$_pl_url"
    export SPIN_VARIABLE_REDIS_URL="${REDIS_URL:-}"
    export SPIN_VARIABLE_OPENAI_API_KEY="${OPENAI_API_KEY:-}"
    export SPIN_VARIABLE_OPENAI_BASE_URL="${OPENAI_BASE_URL:-}"
    export SPIN_VARIABLE_ANTHROPIC_API_KEY="${ANTHROPIC_API_KEY:-}"
    export SPIN_VARIABLE_ANTHROPIC_BASE_URL="${ANTHROPIC_BASE_URL:-}"
    export SPIN_VARIABLE_RETENTION_DAYS="${RETENTION_DAYS:-0}"
    export SPIN_VARIABLE_CORS_ORIGINS="${CORS_ORIGINS:-}"
    # allowed_outbound_hosts is narrowed to exactly these.
    if [ -n "$_pl_url" ]; then
        SPIN_VARIABLE_DB_HOST=$(url_host_port "$_pl_url" 5432)
        export SPIN_VARIABLE_DB_HOST
    fi
    if [ -n "${REDIS_URL:-}" ]; then
        SPIN_VARIABLE_REDIS_HOST=$(url_host_port "$REDIS_URL" 6379)
        export SPIN_VARIABLE_REDIS_HOST
    fi
    if [ -n "${OPENAI_BASE_URL:-}" ]; then
        SPIN_VARIABLE_OPENAI_ORIGIN=$(url_origin "$OPENAI_BASE_URL")
        export SPIN_VARIABLE_OPENAI_ORIGIN
    fi
    if [ -n "${ANTHROPIC_BASE_URL:-}" ]; then
        SPIN_VARIABLE_ANTHROPIC_ORIGIN=$(url_origin "$ANTHROPIC_BASE_URL")
        export SPIN_VARIABLE_ANTHROPIC_ORIGIN
    fi
}

# Prints "component trigger-type" for every trigger in the manifest MANIFEST.
promptledger_manifest_triggers() {
    awk '
        /^\[\[trigger\.[A-Za-z0-9_-]+\]\]/ { t = $0; sub(/^\[\[trigger\./, "", t); sub(/\]\].*$/, "", t); next }
        /^\[/ { t = ""; next }
        t != "" && /^[ \t]*component[ \t]*=[ \t]*"/ {
            c = $0; sub(/^[^"]*"/, "", c); sub(/".*$/, "", c)
            if (!seen[c " " t]++) print c, t
        }
    ' "$1"
}

# Prints the component ids of the manifest MANIFEST, in manifest order.
promptledger_manifest_components() {
    sed -n 's/^\[component\.\([A-Za-z0-9_-]*\)\][[:space:]]*$/\1/p' "$1"
}

# Prints the trigger types of component COMPONENT in MANIFEST, space separated.
promptledger_trigger_types() {
    promptledger_manifest_triggers "$1" | awk -v c="$2" '$1 == c { printf "%s ", $2 }'
}

# True when Spin's trigger-cron plugin is installed (SPIN_DATA_DIR, else Spin's default data dir).
promptledger_cron_plugin_installed() {
    _pl_data_dir=${SPIN_DATA_DIR:-${XDG_DATA_HOME:-${HOME:-/nonexistent}/.local/share}/spin}
    [ -x "$_pl_data_dir/plugins/trigger-cron/trigger-cron" ]
}

# Why component COMPONENT of MANIFEST cannot run here (prints nothing and
# fails when it can): Redis-triggered components need REDIS_URL, because
# `spin up` ends the whole app when the Redis trigger cannot connect; cron
# components need the trigger-cron plugin.
promptledger_cannot_run() {
    _pl_types=" $(promptledger_trigger_types "$1" "$2")"
    case "$_pl_types" in
        *" redis "*)
            if [ -z "${REDIS_URL:-}" ]; then
                echo "REDIS_URL is empty (its Redis trigger would stop the whole app; the beat claims queued executions instead)"
                return 0
            fi ;;
    esac
    case "$_pl_types" in
        *" cron "*)
            if ! promptledger_cron_plugin_installed; then
                echo "the trigger-cron Spin plugin is not installed (a scheduler can call POST /v1/internal/beat instead)"
                return 0
            fi ;;
    esac
    return 1
}

# Prints the components to run on one line, space separated.
#   promptledger_select_components MANIFEST [REQUEST...]
# REQUEST words (commas also separate) are component ids, `all` (every
# component that can run here; the others are left out with a note on
# stderr) or `http` (every HTTP component). No request means `all`. Naming a
# component that cannot run here is an error.
promptledger_select_components() {
    _pl_manifest=$1
    shift
    _pl_known=$(promptledger_manifest_components "$_pl_manifest" | tr '\n' ' ')
    if [ -z "$_pl_known" ]; then
        printf '%s\n' "no components found in $_pl_manifest" >&2
        return 1
    fi
    _pl_request=$(printf '%s\n' "$*" | tr ',' ' ' | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
    _pl_selected=""
    for _pl_word in ${_pl_request:-all}; do
        case "$_pl_word" in
            all)
                for _pl_c in $_pl_known; do
                    if _pl_why=$(promptledger_cannot_run "$_pl_manifest" "$_pl_c"); then
                        printf '%s\n' "not running $_pl_c: $_pl_why" >&2
                    else
                        _pl_selected="$_pl_selected $_pl_c"
                    fi
                done ;;
            http)
                _pl_selected="$_pl_selected $(promptledger_manifest_triggers "$_pl_manifest" | awk '$2 == "http" { printf "%s ", $1 }')" ;;
            *)
                case " $_pl_known" in
                    *" $_pl_word "*) ;;
                    *)
                        printf '%s\n' "unknown component '$_pl_word' (spin.toml has: ${_pl_known% })" >&2
                        return 1 ;;
                esac
                if _pl_why=$(promptledger_cannot_run "$_pl_manifest" "$_pl_word"); then
                    printf '%s\n' "cannot run component '$_pl_word': $_pl_why" >&2
                    return 1
                fi
                _pl_selected="$_pl_selected $_pl_word" ;;
        esac
    done
    # Unique, in the order first named.
    _pl_selected=$(printf '%s\n' "$_pl_selected" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
    if [ -z "$_pl_selected" ]; then
        echo "no components to run" >&2
        return 1
    fi
    printf '%s\n' "${_pl_selected% }"
}

# True when any of the components after MANIFEST has an HTTP trigger.
promptledger_has_http() {
    _pl_manifest=$1
    shift
    _pl_http=" $(promptledger_manifest_triggers "$_pl_manifest" | awk '$2 == "http" { printf "%s ", $1 }')"
    for _pl_c in "$@"; do
        case "$_pl_http" in *" $_pl_c "*) return 0 ;; esac
    done
    return 1
}
