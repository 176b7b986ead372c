// Evaluates .railway/railway.ts with the railway/iac SDK (as `railway config
// plan` does before diffing) and checks the services it describes. Run by
// deploy/test.sh with tsx, next to an installed `railway` package:
//   tsx check-railway.mjs ./railway.ts
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { createRailwayContext, project } from "railway/iac";

const file = process.argv[2] ?? "./railway.ts";
const { default: program } = await import(pathToFileURL(file).href);

async function evaluate(environment) {
  const definition = await program(createRailwayContext({ environment, command: "plan" }), project);
  return Object.fromEntries(definition.resources.flat().map((r) => [`${r.type}.${r.name}`, r]));
}

let passed = 0;
function check(name, fn) {
  fn();
  passed += 1;
  console.log(`ok - railway.ts: ${name}`);
}

const prod = await evaluate("production");
const staging = await evaluate("staging");
const services = { api: "http", executions: "health,executions", worker: "health,worker", beat: "health,beat" };

check("declares Postgres, Redis and the four services", () => {
  assert.deepEqual(
    Object.keys(prod).sort(),
    ["database.Postgres", "database.Redis", "group.PromptLedger", ...Object.keys(services).map((s) => `service.${s}`)].sort(),
  );
  assert.equal(prod["database.Postgres"].engine, "postgres");
  assert.equal(prod["database.Redis"].engine, "redis");
});

for (const [name, components] of Object.entries(services)) {
  const svc = prod[`service.${name}`];
  const vars = svc.variables;
  check(`${name}: runs ${components} from the Dockerfile`, () => {
    assert.deepEqual(vars.PROMPTLEDGER_COMPONENTS, { type: "literal", value: components });
    assert.equal(svc.build.builder, "DOCKERFILE");
    assert.equal(svc.build.dockerfilePath, "Dockerfile");
  });
  check(`${name}: health-gated, migrations before deploy`, () => {
    assert.equal(svc.deploy.healthcheckPath, "/health");
    assert.ok(svc.deploy.healthcheckTimeout >= 60);
    assert.deepEqual(svc.deploy.preDeployCommand, ["/app/deploy/entrypoint.sh migrate"]);
    assert.ok(["ON_FAILURE", "ALWAYS"].includes(svc.deploy.restartPolicyType));
  });
  check(`${name}: database and Redis by reference, secrets from shared variables`, () => {
    assert.deepEqual(vars.DATABASE_URL, { type: "reference", resource: "database.Postgres", output: "DATABASE_URL" });
    assert.deepEqual(vars.REDIS_URL, { type: "reference", resource: "database.Redis", output: "REDIS_URL" });
    assert.deepEqual(vars.API_KEY, { type: "sharedReference", name: "API_KEY" });
    for (const key of ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]) {
      assert.equal(vars[key].type, "sharedReference", `${key} must not be a literal`);
    }
    assert.deepEqual(vars.DATABASE_SSLMODE, { type: "literal", value: "disable" });
    assert.deepEqual(vars.PROMPTLEDGER_LISTEN_HOST, { type: "literal", value: "::" });
  });
}

check("replicas: 2 for api, executions and worker in production, 1 elsewhere; one beat", () => {
  for (const name of ["api", "executions", "worker"]) {
    assert.equal(prod[`service.${name}`].deploy.numReplicas, 2);
    assert.equal(staging[`service.${name}`].deploy.numReplicas, 1);
  }
  assert.equal(prod["service.beat"].deploy.numReplicas, 1);
});

console.log(`railway.ts: ${passed} passed, 0 failed`);
