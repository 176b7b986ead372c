# PromptLedger: one image for every service (API, executions, worker, beat,
# migrations). The entrypoint picks the Spin components from
# PROMPTLEDGER_COMPONENTS; see deploy/entrypoint.sh and the README's Deploy section.
#
#   docker build -t promptledger .
#   docker run -p 3000:3000 -e API_KEY=$(openssl rand -hex 32) promptledger

# --- ui: the dashboard's front end (TypeScript client, then the Vite build),
# compiled into the ui component below. Nothing here downloads a browser.
FROM node:22-bookworm-slim AS ui
WORKDIR /src/sdk/typescript
COPY sdk/typescript/package.json sdk/typescript/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY sdk/typescript/tsconfig.json ./
COPY sdk/typescript/src src
RUN npm run build
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/index.html ui/tsconfig.json ui/vite.config.ts ./
COPY ui/public public
COPY ui/src src
RUN npm run build

# --- build: every component for wasm32-wasip2 and the native migration CLI.
# Bookworm, like the Spin image below, so the CLI's glibc matches at run time.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
COPY . .
COPY --from=ui /src/ui/dist ui/dist
RUN set -eux; \
    set --; \
    for dir in components/*/; do set -- "$@" -p "$(basename "$dir")"; done; \
    cargo build --locked --release --target wasm32-wasip2 "$@"; \
    cargo build --locked --release -p ledger-native --bin promptledger; \
    mkdir -p /out/app/target/wasm32-wasip2/release /out/bin; \
    cp target/wasm32-wasip2/release/*.wasm /out/app/target/wasm32-wasip2/release/; \
    cp target/release/promptledger /out/bin/; \
    cp spin.toml /out/app/

# --- the cron trigger plugin (Spin 4 build, spinframework/spin-trigger-plugins),
# installed from Spin's plugin catalogue at a pinned version.
FROM ghcr.io/spinframework/spin:v4.0.2 AS cron-plugin
ARG TRIGGER_CRON_VERSION=0.6.2
ENV SPIN_DATA_DIR=/opt/spin
RUN spin plugins install trigger-cron --version "${TRIGGER_CRON_VERSION}" --yes \
    && rm -rf /opt/spin/plugins/.spin-plugins \
    && test -x /opt/spin/plugins/trigger-cron/trigger-cron

# --- runtime: the official Spin image (Debian bookworm-slim, /usr/local/bin/spin).
FROM ghcr.io/spinframework/spin:v4.0.2
# tini reaps the trigger processes `spin up` starts and forwards signals to
# the whole group; curl serves the health check and beat-call.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 promptledger \
    && useradd --system --uid 10001 --gid promptledger --create-home --home-dir /home/promptledger promptledger \
    && mkdir -p /data \
    && chown promptledger:promptledger /data

COPY --from=cron-plugin /opt/spin /opt/spin
COPY --from=build /out/bin/promptledger /usr/local/bin/promptledger
COPY --from=build /out/app /app
COPY scripts/spin-env.sh /app/scripts/spin-env.sh
COPY deploy/entrypoint.sh /app/deploy/entrypoint.sh

ENV SPIN_DATA_DIR=/opt/spin \
    PROMPTLEDGER_DATA_DIR=/data \
    PROMPTLEDGER_APP_DIR=/app
WORKDIR /app
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=6s --start-period=60s --retries=3 \
    CMD ["/app/deploy/entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/app/deploy/entrypoint.sh"]
CMD ["serve"]
