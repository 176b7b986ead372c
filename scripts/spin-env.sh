# shellcheck shell=sh
# Maps the conventional environment (DATABASE_URL, REDIS_URL, API_KEY, ...)
# onto Spin variables, and picks the components to run. Sourced by
# scripts/run and the container entrypoint, so both wire the app the same way.

# Prints host:port of a URL (credentials, path and query dropped).
url_host_port() {
    printf '%s\n' "$1" | sed -e 's|^[a-zA-Z0-9+.-]*://||' -e 's|[/?].*$||' -e 's|^.*@||'
}

# Prints scheme://host:port of a URL.
url_origin() {
    scheme=$(printf '%s\n' "$1" | sed -n 's|^\([a-zA-Z0-9+.-]*\)://.*|\1|p')
    printf '%s://%s\n' "${scheme:-https}" "$(url_host_port "$1")"
}

# Exports SPIN_VARIABLE_* from the conventional names. Fails when API_KEY is unset.
promptledger_spin_env() {
    if [ -z "${API_KEY:-}" ]; then
        echo "API_KEY is not set: it is the bootstrap admin key every /v1 request needs" >&2
        return 1
    fi
    export SPIN_VARIABLE_API_KEY="$API_KEY"
    export SPIN_VARIABLE_DATABASE_URL="${DATABASE_URL:-}"
    export SPIN_VARIABLE_REDIS_URL="${REDIS_URL:-}"
    export SPIN_VARIABLE_OPENAI_API_KEY="${OPENAI_API_KEY:-}"
    export SPIN_VARIABLE_OPENAI_BASE_URL="${OPENAI_BASE_URL:-}"
    export SPIN_VARIABLE_ANTHROPIC_API_KEY="${ANTHROPIC_API_KEY:-}"
    export SPIN_VARIABLE_ANTHROPIC_BASE_URL="${ANTHROPIC_BASE_URL:-}"
    export SPIN_VARIABLE_RETENTION_DAYS="${RETENTION_DAYS:-0}"
    # allowed_outbound_hosts is narrowed to exactly these.
    if [ -n "${DATABASE_URL:-}" ]; then
        export SPIN_VARIABLE_DB_HOST="$(url_host_port "$DATABASE_URL")"
    fi
    if [ -n "${REDIS_URL:-}" ]; then
        export SPIN_VARIABLE_REDIS_HOST="$(url_host_port "$REDIS_URL")"
    fi
    if [ -n "${OPENAI_BASE_URL:-}" ]; then
        export SPIN_VARIABLE_OPENAI_ORIGIN="$(url_origin "$OPENAI_BASE_URL")"
    fi
    if [ -n "${ANTHROPIC_BASE_URL:-}" ]; then
        export SPIN_VARIABLE_ANTHROPIC_ORIGIN="$(url_origin "$ANTHROPIC_BASE_URL")"
    fi
}
