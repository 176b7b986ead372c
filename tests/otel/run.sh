#!/usr/bin/env bash
# The official OpenTelemetry exporters against a live PromptLedger: Python's
# OTLP/HTTP protobuf exporter (plain and gzip) and JavaScript's OTLP/HTTP
# JSON exporter, each trace read back as a tree.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ -z "${PROMPT_LEDGER_URL:-}" ]; then
    exec "$root/scripts/with-live-host" -- "$0" "$@"
fi

venv="$root/target/otel-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
(cd "$here" && npm ci --no-audit --no-fund --silent)

"$venv/bin/python" "$here/export.py"
node "$here/export.mjs"
echo "otel exporters: python protobuf + gzip, javascript json: passed (host: ${PROMPT_LEDGER_TEST_HOST:-unknown})"
