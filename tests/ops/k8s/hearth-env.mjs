// Prints the environment a rendered manifest set gives hearth's server container, one
// KEY=VALUE a line: its literal env values and its ConfigMaps' (envFrom, configMapKeyRef).
// Secrets are left out: the test supplies its own key. tests/ops/test-k8s.sh starts hearth
// with this environment, so the ConfigMap's settings are checked by hearth itself.
//   kubectl kustomize deploy/k8s/base | node hearth-env.mjs
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const objects = parseAllDocuments(readFileSync(0, "utf8")).map((d) => d.toJS()).filter(Boolean);
const configMap = (name) => objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === name);
const deployment = objects.find((o) => o.kind === "Deployment" &&
  o.spec.template.spec.containers.some((c) => c.name === "hearth"));
if (!deployment) {
  console.error("hearth-env: no Deployment with a container named hearth");
  process.exit(1);
}
const container = deployment.spec.template.spec.containers.find((c) => c.name === "hearth");
const env = new Map();
for (const from of container.envFrom ?? []) {
  if (from.configMapRef)
    for (const [k, v] of Object.entries(configMap(from.configMapRef.name)?.data ?? {})) env.set(k, v);
}
for (const e of container.env ?? []) {
  if (e.value !== undefined) env.set(e.name, e.value);
  const ref = e.valueFrom?.configMapKeyRef;
  if (ref) env.set(e.name, configMap(ref.name).data[ref.key]);
}
for (const [k, v] of env) {
  if (/[\n\0]/.test(v)) {
    console.error(`hearth-env: ${k} has a newline`);
    process.exit(1);
  }
  console.log(`${k}=${v}`);
}
