/**
 * PromptLedger on Railway, as Infrastructure as Code.
 *
 *   railway login && railway link
 *   railway variables --set "API_KEY=$(openssl rand -hex 32)"   # once, as a shared variable
 *   railway config plan
 *   railway config apply
 *
 * The DSL is the `railway` npm package's `railway/iac` module (deploy/test.sh
 * type-checks this file against railway@3.11.0 and evaluates it). Every
 * service runs the same image (the repository's Dockerfile) and differs only
 * in the Spin components it starts (PROMPTLEDGER_COMPONENTS, see
 * deploy/entrypoint.sh); each set includes `health` so Railway's health check
 * gates every deploy.
 *
 * Services carry no `source`: connect this repository to each of them in the
 * dashboard (or deploy with `railway up`). Secrets stay out of this file:
 * API_KEY and the provider keys are shared variables of the environment,
 * created once with `railway variables` or in the dashboard.
 *
 * Railway refuses to manage a service from this file while its deployments
 * read a railway.toml. The repository's railway.toml serves services created
 * from the template or the dashboard (config as code, which Railway stops
 * reading on 2026-12-01); delete it in your copy when you adopt this file.
 */
import { defineRailway, group, postgres, project, redis, service } from "railway/iac";

const IMAGE_BUILD = { builder: "DOCKERFILE", dockerfilePath: "Dockerfile" } as const;

export default defineRailway((ctx) => {
  const production = ctx.environment === "production";

  const db = postgres("Postgres");
  const cache = redis("Redis");

  // What every PromptLedger service needs.
  const env = {
    DATABASE_URL: db.env.DATABASE_URL,
    // Private network: Railway's Postgres certificate is self-signed and Spin
    // verifies certificates whenever it uses TLS.
    DATABASE_SSLMODE: "disable",
    REDIS_URL: cache.env.REDIS_URL,
    API_KEY: ctx.shared.API_KEY,
    OPENAI_API_KEY: ctx.shared.OPENAI_API_KEY,
    OPENAI_BASE_URL: ctx.shared.OPENAI_BASE_URL,
    ANTHROPIC_API_KEY: ctx.shared.ANTHROPIC_API_KEY,
    ANTHROPIC_BASE_URL: ctx.shared.ANTHROPIC_BASE_URL,
    RETENTION_DAYS: ctx.shared.RETENTION_DAYS,
    PORT: "3000",
    // IPv6 and IPv4: Railway's private network is IPv6.
    PROMPTLEDGER_LISTEN_HOST: "::",
    // preDeploy below applies them before any new deployment serves.
    PROMPTLEDGER_MIGRATE: "0",
  };

  // Migrations run before each new deployment; when they fail the deploy
  // fails and the previous deployment keeps serving. Health-gated: a
  // deployment takes traffic only once /health answers 200.
  const deployed = {
    build: IMAGE_BUILD,
    preDeploy: "/app/deploy/entrypoint.sh migrate",
    healthcheck: "/health",
    healthcheckTimeout: 120,
    deploy: { restartPolicyType: "ON_FAILURE", restartPolicyMaxRetries: 10 },
  } as const;

  // The public API: every HTTP component, one base URL for clients.
  const api = service("api", {
    ...deployed,
    replicas: production ? 2 : 1,
    env: { ...env, PROMPTLEDGER_COMPONENTS: "http" },
  });

  // Executions scaled on their own: clients that run many (or slow, sync)
  // executions point `POST /v1/executions:run` at this service's domain.
  const executions = service("executions", {
    ...deployed,
    replicas: production ? 2 : 1,
    env: { ...env, PROMPTLEDGER_COMPONENTS: "health,executions" },
  });

  // Runs queued executions as soon as they are published on Redis. Its Redis
  // trigger ends the process when Redis goes away; Railway restarts it.
  const worker = service("worker", {
    ...deployed,
    replicas: production ? 2 : 1,
    deploy: { restartPolicyType: "ALWAYS" },
    env: { ...env, PROMPTLEDGER_COMPONENTS: "health,worker" },
  });

  // The periodic work (retries, rollups, retention) on Spin's cron trigger.
  // Without it, a Railway cron service can call the internal route instead:
  // start "/app/deploy/entrypoint.sh beat-call", deploy.cronSchedule "*/5 * * * *",
  // PROMPTLEDGER_URL "http://${{api.RAILWAY_PRIVATE_DOMAIN}}:3000".
  const beat = service("beat", {
    ...deployed,
    replicas: 1,
    env: { ...env, PROMPTLEDGER_COMPONENTS: "health,beat" },
  });

  return project("promptledger", {
    resources: [group("PromptLedger", [db, cache, api, executions, worker, beat])],
  });
});
