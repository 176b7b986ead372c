#!/usr/bin/env bash
# The official `openai` and `anthropic` Python SDKs, and the `openai` npm
# client, against a live PromptLedger gateway (base_url pointed at it, the
# PromptLedger key as the vendor key) and the fake provider; every call
# checked in the ledger.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ -z "${PROMPT_LEDGER_URL:-}" ]; then
    exec "$root/scripts/with-live-host" -- "$0" "$@"
fi

venv="$root/target/gateway-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"

"$venv/bin/python" "$here/sdks.py"

(cd "$here" && npm ci --no-audit --no-fund --silent)
node "$here/openai.mjs"
