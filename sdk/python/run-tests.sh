#!/usr/bin/env bash
# Checks and tests the Python SDK: ruff, mypy --strict, and the pytest suite
# against a live PromptLedger.
#
# The server comes from PROMPT_LEDGER_URL / PROMPT_LEDGER_API_KEY
# (FAKE_PROVIDER_URL, PROMPT_LEDGER_TEST_HOST) when set; otherwise this script
# runs itself under scripts/with-live-host (PROMPT_LEDGER_TEST_BACKEND picks
# sqlite or postgres). The venv lives in target/sdk-venv and is reused.
#
# Last line: "python sdk: N passed, M failed (host: native|spin)".
# With --bench, bench.py's figures are printed before it.
set -uo pipefail

bench=0
[[ "${1:-}" == "--bench" ]] && bench=1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [[ -z "${PROMPT_LEDGER_URL:-}" ]]; then
    exec "$repo/scripts/with-live-host" --backend "${PROMPT_LEDGER_TEST_BACKEND:-sqlite}" -- "$0" "$@"
fi
venv="$repo/target/sdk-venv"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say() { echo "run-tests: $*" >&2; }

# ---- the venv and the package ----
if [[ ! -x "$venv/bin/python" ]]; then
    say "creating $venv"
    python3 -m venv "$venv" || { say "python3 -m venv failed"; exit 1; }
fi
py="$venv/bin/python"
if ! "$py" -m pip install -q --disable-pip-version-check "${here}[dev,otel]" >"$work/pip.log" 2>&1 \
    || ! "$py" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$here" >>"$work/pip.log" 2>&1; then
    cat "$work/pip.log" >&2
    say "pip install failed"
    exit 1
fi

# ---- static checks (each failed one counts as a failure in the summary) ----
status=0
static_failed=0
cd "$here" || exit 1
check() {
    local what="$1"
    shift
    "$@" || { say "$what failed"; status=1; static_failed=$((static_failed + 1)); }
}
check "ruff check" "$venv/bin/ruff" check src tests bench.py
check "ruff format --check" "$venv/bin/ruff" format --check src tests bench.py
check "mypy --strict" "$venv/bin/mypy" --strict src
# The installed package's types (py.typed) as an application's checker sees them.
check "mypy --strict (public types)" "$venv/bin/mypy" --strict tests/typing_usage.py

host="${PROMPT_LEDGER_TEST_HOST:-native}"
say "testing against $PROMPT_LEDGER_URL ($host host)"

# ---- the suite ----
junit="$work/junit.xml"
"$venv/bin/pytest" -q -rs --junitxml="$junit" tests
pytest_status=$?
read -r passed failed skipped < <("$py" - "$junit" <<'EOF'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1, 0)
    raise SystemExit
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - failed - skipped, failed, skipped)
EOF
)
if [[ "$pytest_status" -ne 0 ]]; then
    status=1
    # No test ran, or pytest itself broke: never reported as a pass.
    [[ "$failed" -eq 0 ]] && failed=1
fi
failed=$((failed + static_failed))
if [[ "$bench" -eq 1 ]]; then
    "$py" "$here/bench.py" || status=1
fi
if [[ "$skipped" -gt 0 ]]; then
    echo "python sdk: $passed passed, $failed failed, $skipped skipped (host: $host)"
else
    echo "python sdk: $passed passed, $failed failed (host: $host)"
fi
exit "$status"
