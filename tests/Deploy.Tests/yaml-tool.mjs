// Reads YAML for the deploy tests with the Node packages of tests/Interop/node (yaml, kubernetes-models).
//   node yaml-tool.mjs parse FILE      every document of FILE as a JSON array (merge keys `<<` resolved)
//   node yaml-tool.mjs validate FILE   {"objects":[...],"errors":["Kind/name: ..."]}: each document checked against the
//                                      Kubernetes OpenAPI schema of its apiVersion and kind (bundled, offline)
// FILE "-" is standard input. Exit 0 when it ran (errors are in the output), 2 on bad usage or unparsable YAML.
import { readFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = process.env.TRELLIS_NODE_MODULES ?? join(here, "..", "Interop", "node", "node_modules");
const need = (pkg, file) => {
  const path = join(modules, pkg, file);
  if (!existsSync(path)) {
    console.error(`${pkg} is not installed in ${modules}: run scripts/deps.sh (npm ci in tests/Interop/node)`);
    process.exit(2);
  }
  return import(pathToFileURL(path).href);
};

const [mode, file] = process.argv.slice(2);
if (!["parse", "validate"].includes(mode) || !file) {
  console.error("usage: node yaml-tool.mjs parse|validate FILE|-");
  process.exit(2);
}

const YAML = await need("yaml", "dist/index.js");
const text = readFileSync(file === "-" ? 0 : file, "utf8");
const docs = YAML.parseAllDocuments(text, { merge: true });
const problems = docs.flatMap((d) => d.errors.map((e) => e.message));
if (problems.length) {
  console.error(`${file}: not valid YAML: ${problems.join("; ")}`);
  process.exit(2);
}
const objects = docs.map((d) => d.toJS({ maxAliasCount: -1 })).filter((o) => o !== null && o !== undefined);

if (mode === "parse") {
  process.stdout.write(JSON.stringify(objects));
  process.exit(0);
}

const errors = [];
for (const [i, o] of objects.entries()) {
  const name = `${o?.kind ?? "?"}/${o?.metadata?.name ?? `#${i}`}`;
  if (typeof o !== "object" || typeof o.apiVersion !== "string" || typeof o.kind !== "string") {
    errors.push(`${name}: not a Kubernetes object (apiVersion and kind are required)`);
    continue;
  }
  // "v1" is the core group (kubernetes-models/v1); "apps/v1" is kubernetes-models/apps/v1.
  const index = join(modules, "kubernetes-models", o.apiVersion, "index.js");
  const models = existsSync(index) ? await import(pathToFileURL(index).href) : {};
  const Model = models[o.kind];
  if (typeof Model !== "function") {
    errors.push(`${name}: no schema for apiVersion ${o.apiVersion} kind ${o.kind}`);
    continue;
  }
  try {
    new Model(o).validate();
  } catch (e) {
    errors.push(`${name}: ${e.message}`);
  }
}
process.stdout.write(JSON.stringify({ objects, errors }));
