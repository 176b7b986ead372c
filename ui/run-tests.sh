#!/bin/sh
# The dashboard's tests: the TypeScript client and the front end installed
# from their lockfiles, unit tests (vitest), the production build, its sizes,
# the ui component's .wasm, then the browser journey (Playwright driving
# Debian's Chromium, axe-core on every page) against the live app:
# PROMPT_LEDGER_URL when set, else a live host started by the journey.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "ui: node and npm are needed (Debian: apt-get install -y nodejs npm)" >&2
    exit 1
fi

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    echo "ui: $chromium is missing; installing Debian's chromium package"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get install -y chromium >/dev/null || { sudo apt-get update >/dev/null && sudo apt-get install -y chromium >/dev/null; }
    fi
    [ -x "$chromium" ] || { echo "ui: no Chromium at $chromium (install Debian's chromium or set CHROMIUM_PATH)" >&2; exit 1; }
fi
export CHROMIUM_PATH="$chromium"

echo "== ui: TypeScript client (sdk/typescript)"
(cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run --silent generate && npm run --silent build)

echo "== ui: install, unit tests, build"
cd ui
npm ci --no-audit --no-fund --loglevel=error
npx vitest run
npm run --silent build

echo "== ui: bundle sizes (gzip -9)"
initial_js=0
for file in dist/assets/*.js dist/assets/*.css; do
    [ -f "$file" ] || continue
    raw=$(wc -c <"$file")
    gz=$(gzip -9c "$file" | wc -c)
    printf '  %-44s %8d B  gzip %7d B\n' "${file#dist/}" "$raw" "$gz"
done
# The initial JavaScript: the entry script index.html loads (charts come later).
entry=$(sed -n 's/.*<script type="module"[^>]*src="\/\([^"]*\)".*/\1/p' dist/index.html | head -n 1)
if [ -n "$entry" ] && [ -f "dist/$entry" ]; then
    initial_js=$(gzip -9c "dist/$entry" | wc -c)
fi
echo "  initial JavaScript: $initial_js B gzipped (budget 256000 B)"
[ "$initial_js" -le 256000 ] || { echo "ui: the initial JavaScript is over budget" >&2; exit 1; }
cd "$root"

if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "== ui: the ui component (wasm32-wasip2, release)"
    cargo build --quiet --target wasm32-wasip2 --release -p ui
    echo "  ui.wasm: $(wc -c <target/wasm32-wasip2/release/ui.wasm) B"
else
    echo "== ui: wasm32-wasip2 target not installed; ui.wasm not built"
fi

echo "== ui: browser journey"
# A host started before this build embeds an older ui/dist (or none): the
# journey then runs against a live host of its own, built with this one.
if [ -n "${PROMPT_LEDGER_URL:-}" ] && ! node -e '
    const want = require("fs").readFileSync("ui/dist/index.html", "utf8");
    fetch(process.argv[1].replace(/\/$/, "") + "/").then((r) => r.text()).then((got) => process.exit(got === want ? 0 : 1), () => process.exit(1));
' "$PROMPT_LEDGER_URL"; then
    echo "  $PROMPT_LEDGER_URL serves another dashboard build (it started before this one); the journey starts its own live host"
    unset PROMPT_LEDGER_URL PROMPT_LEDGER_API_KEY PROMPT_LEDGER_TEST_HOST FAKE_PROVIDER_URL
fi
if [ -z "${PROMPT_LEDGER_URL:-}" ]; then
    # The live host embeds ui/dist at compile time: rebuild it on the fresh build.
    cargo build --quiet -p scenarios --bin live-host
fi
node ui/e2e/journey.mjs
