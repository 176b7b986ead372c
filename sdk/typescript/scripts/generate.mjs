// Regenerates src/schema.ts from the repository's openapi.json with
// openapi-typescript. While that document has no paths yet, the
// hand-kept src/schema.ts stays as it is.
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const spec = process.env.PROMPTLEDGER_OPENAPI ?? join(here, "../../../openapi.json");
const out = join(here, "../src/schema.ts");

let paths = 0;
try {
  paths = Object.keys(JSON.parse(readFileSync(spec, "utf8")).paths ?? {}).length;
} catch (error) {
  console.error(`generate: cannot read ${spec}: ${error.message}`);
  process.exit(1);
}
if (paths === 0) {
  console.log(`generate: ${spec} describes no paths yet; keeping src/schema.ts`);
  process.exit(0);
}
const bin = join(here, "../node_modules/.bin/openapi-typescript");
execFileSync(bin, [spec, "--output", out, "--root-types", "--alphabetize"], { stdio: "inherit" });
console.log(`generate: ${paths} paths from ${spec} -> src/schema.ts`);
