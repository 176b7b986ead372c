"""Counts a schemathesis run from its reports and prints the one-line summary.

Usage: summary.py REPORT_DIR HOST SCHEMATHESIS_EXIT_CODE SEED

Requests and server errors are counted from the HAR file (every request the
run sent); schema violations from the JSON run report's failures. Exits
non-zero when schemathesis failed or errored, or when anything was counted.
"""

import json
import sys
from pathlib import Path

def main() -> int:
    report, host, exit_code, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    output = (report / "output.txt").read_text(errors="replace")
    try:
        run = json.loads((report / "run.json").read_text())
        entries = json.loads((report / "requests.har").read_text())["log"]["entries"]
    except (OSError, ValueError, KeyError) as e:
        print(output[-4000:])
        print(f"schemathesis: no report ({e}); exit code {exit_code}")
        return 1
    statuses = [entry["response"]["status"] for entry in entries]
    server_errors = sum(1 for s in statuses if s >= 500)
    failures = run.get("failures") or []
    # Every failure group but the server-error check is a response breaking the spec.
    violations = sum(f.get("count", 1) for f in failures if "server error" not in str(f.get("title", "")).lower())
    errors = run.get("errors") or []
    operations = run["operations"]["tested"]
    line = (
        f"schemathesis: {operations} operations, {len(entries)} requests, "
        f"{server_errors} server errors, {violations} schema violations (host: {host})"
    )
    broken = exit_code != 0 or server_errors or violations or errors or not entries
    if broken:
        print(output[-12000:])
        print(f"seed {seed}; failures {failures}; errors {errors}; reports in {report}")
    print(line)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
