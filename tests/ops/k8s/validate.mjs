// Validates Kubernetes manifests offline (tests/ops/test-k8s.sh runs it):
//  1. every object against its published schema: the Kubernetes API's (kubernetes-models),
//     KEDA's, the Gateway API's and the prometheus-operator's (@kubernetes-models/*), or a
//     CRD file given with --crd (its openAPIV3Schema, through ajv);
//  2. no field the API does not know, for the built-in kinds (the field lists of the official
//     client, @kubernetes/client-node, generated from the Kubernetes OpenAPI spec): a schema
//     alone lets a misspelt `readinesProbe` through;
//  3. with --set, the objects of one rendered set against each other: selectors that match
//     pods, ports, volumes, ConfigMaps, scale targets and routes that exist, and what hearth's
//     image and server need (--image-user, --image-port, --routes, --metrics).
//
//   node validate.mjs [--partial] [--set] [--crd FILE]... [--image-user UID] [--image-port N]
//                     [--routes a,b] [--metrics a,b] FILE...   (FILE "-": stdin)
//
// --partial: the files are patches (parts of objects): only the field names are checked.
// Prints one line per problem and a summary; exits 1 when there is a problem.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import Ajv from "ajv";
import * as clientModels from "@kubernetes/client-node/dist/gen/models/all.js";

const args = process.argv.slice(2);
const opts = { partial: false, set: false, crds: [], files: [] };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--partial") opts.partial = true;
  else if (a === "--set") opts.set = true;
  else if (a === "--crd") opts.crds.push(args[++i]);
  else if (a === "--image-user") opts.imageUser = Number(args[++i]);
  else if (a === "--image-port") opts.imagePort = Number(args[++i]);
  else if (a === "--routes") opts.routes = args[++i].split(",");
  else if (a === "--metrics") opts.metrics = args[++i].split(",");
  else opts.files.push(a);
}

const problems = [];
const notes = [];
const problem = (where, what) => problems.push(`${where}: ${what}`);

// ---- reading ----

function readObjects(file) {
  const text = readFileSync(file === "-" ? 0 : file, "utf8");
  const out = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      problem(file, `YAML: ${doc.errors[0].message}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    out.push({ file, obj });
  }
  return out;
}

const objects = opts.files.flatMap(readObjects);
const label = (o) => `${o.file}: ${o.obj?.kind ?? "?"}/${o.obj?.metadata?.name ?? "?"}`;

// ---- 1. schemas ----

// apiVersion -> the package and folder of its models.
function modelModule(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const byGroup = {
    "keda.sh": "@kubernetes-models/keda/keda.sh",
    "gateway.networking.k8s.io": "@kubernetes-models/gateway-api/gateway.networking.k8s.io",
    "monitoring.coreos.com": "@kubernetes-models/prometheus-operator/monitoring.coreos.com",
  };
  if (byGroup[group]) return `${byGroup[group]}/${version}`;
  if (group.includes(".") && !group.endsWith(".k8s.io")) return null;  // another project's CRD
  return group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
}

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, logger: false });
const crdSchemas = new Map();  // "group/version/Kind" -> compiled validator
for (const file of opts.crds) {
  for (const { obj } of readObjects(file)) {
    if (obj.kind !== "CustomResourceDefinition") continue;
    for (const v of obj.spec.versions) {
      const schema = v.schema?.openAPIV3Schema;
      if (schema) crdSchemas.set(`${obj.spec.group}/${v.name}/${obj.spec.names.kind}`,
                                 ajv.compile(stripKubernetesExtensions(schema)));
    }
  }
}

// ajv knows JSON Schema, not OpenAPI's x-kubernetes-* keywords (CEL rules and the like):
// dropped, so the structural schema is what is checked. Objects with listed properties get
// no others, as the API server's strict field validation (kubectl's default) refuses them.
function stripKubernetesExtensions(node) {
  if (Array.isArray(node)) return node.map(stripKubernetesExtensions);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith("x-kubernetes-")) continue;
    out[k] = k === "properties"
      ? Object.fromEntries(Object.entries(v).map(([name, s]) => [name, stripKubernetesExtensions(s)]))
      : stripKubernetesExtensions(v);
  }
  if (node.type === "object" && node.properties && !("additionalProperties" in node) &&
      !node["x-kubernetes-preserve-unknown-fields"])
    out.additionalProperties = false;
  return out;
}

async function checkSchema(o) {
  const { apiVersion, kind } = o.obj;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    problem(label(o), "no apiVersion or kind");
    return;
  }
  if (!o.obj.metadata?.name) problem(label(o), "no metadata.name");
  const crd = crdSchemas.get(`${apiVersion}/${kind}`);
  if (crd) {
    if (!crd(o.obj)) {
      for (const e of crd.errors) problem(label(o), `${e.instancePath || "/"} ${e.message}`);
    }
    return;
  }
  const path = modelModule(apiVersion);
  let Model;
  try {
    Model = path && (await import(path))[kind];
  } catch {
    Model = undefined;
  }
  if (!Model) {
    notes.push(`${label(o)}: ${apiVersion} ${kind} has no offline schema: not schema-checked`);
    return;
  }
  try {
    new Model(o.obj).validate();
  } catch (e) {
    problem(label(o), `schema: ${e.message}`);
  }
}

// ---- 2. field names of the built-in kinds ----

function clientType(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const v = version[0].toUpperCase() + version.slice(1);
  const g = group.split(".")[0];
  const candidates = [`${v}${kind}`, `${g[0]?.toUpperCase()}${g.slice(1)}${v}${kind}`];
  return candidates.find((name) => clientModels[name]?.attributeTypeMap);
}

function checkFields(value, type, where, o) {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => checkFields(v, array[1], `${where}[${i}]`, o));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) checkFields(v, map[1], `${where}.${k}`, o);
    }
    return;
  }
  const attrs = clientModels[type]?.attributeTypeMap;
  if (!attrs || typeof value !== "object" || Array.isArray(value)) return;  // a leaf
  const known = new Map(attrs.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!known.has(k)) problem(label(o), `unknown field ${where ? where + "." : ""}${k}`);
    else checkFields(v, known.get(k), where ? `${where}.${k}` : k, o);
  }
}

// ---- 3. the objects of one set against each other ----

const byKind = (kind) => objects.filter((o) => o.obj.kind === kind);
const named = (kind, name) => byKind(kind).find((o) => o.obj.metadata?.name === name);
const workloads = () => byKind("Deployment");
const podLabels = (d) => d.obj.spec?.template?.metadata?.labels ?? {};
const podSpec = (d) => d.obj.spec?.template?.spec ?? {};
const allContainers = (d) => [...(podSpec(d).initContainers ?? []), ...(podSpec(d).containers ?? [])];
const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
function selectedPods(o, selector) {
  if (!selector || Object.keys(selector).length === 0) {
    problem(label(o), "empty selector");
    return [];
  }
  const found = workloads().filter((d) => matches(selector, podLabels(d)));
  if (found.length === 0) problem(label(o), `selector ${JSON.stringify(selector)} matches no pods`);
  return found;
}
const containerPorts = (d) => (podSpec(d).containers ?? []).flatMap((c) => c.ports ?? []);
function portExists(d, port) {
  return containerPorts(d).some((p) => p.name === port || p.containerPort === port);
}

function checkDeployment(d) {
  const spec = podSpec(d);
  if (!matches(d.obj.spec?.selector?.matchLabels, podLabels(d)))
    problem(label(d), "spec.selector does not match the pod template's labels");
  const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
  for (const v of spec.volumes ?? []) {
    const claim = v.persistentVolumeClaim?.claimName;
    if (claim && !named("PersistentVolumeClaim", claim)) problem(label(d), `no PVC ${claim}`);
    const cm = v.configMap?.name;
    if (cm && !named("ConfigMap", cm)) problem(label(d), `no ConfigMap ${cm}`);
  }
  for (const c of allContainers(d)) {
    const where = `container ${c.name}`;
    for (const m of c.volumeMounts ?? [])
      if (!volumes.has(m.name)) problem(label(d), `${where} mounts undeclared volume ${m.name}`);
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.configMapKeyRef;
      if (ref && !ref.optional) {
        const cm = named("ConfigMap", ref.name);
        if (!cm) problem(label(d), `${where}: no ConfigMap ${ref.name}`);
        else if (!(ref.key in (cm.obj.data ?? {})))
          problem(label(d), `${where}: ConfigMap ${ref.name} has no key ${ref.key}`);
      }
    }
    for (const f of c.envFrom ?? [])
      if (f.configMapRef && !named("ConfigMap", f.configMapRef.name))
        problem(label(d), `${where}: no ConfigMap ${f.configMapRef.name}`);
    for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
      const get = c[probe]?.httpGet;
      if (!get) continue;
      if (!portExists(d, get.port)) problem(label(d), `${where} ${probe}: no port ${get.port}`);
      if (opts.routes && isHearth(c) && !opts.routes.includes(get.path))
        problem(label(d), `${where} ${probe}: hearth has no route GET ${get.path}`);
    }
  }
  for (const c of (spec.containers ?? []).filter(isHearth)) checkHearthContainer(d, c);
}

// hearth's containers run its image (any container whose image name is hearth).
function isHearth(c) {
  return /(^|\/)hearth(:|@|$)/.test(c.image ?? "");
}

// What the image and the server need, and what the deployment promises (non-root, read-only
// root filesystem, probes on /health and /readyz, resources).
function checkHearthContainer(d, c) {
  const spec = podSpec(d);
  const where = `container ${c.name}`;
  const sc = { ...spec.securityContext, ...c.securityContext };
  if (sc.runAsNonRoot !== true) problem(label(d), `${where}: runAsNonRoot is not true`);
  if (opts.imageUser !== undefined && sc.runAsUser !== opts.imageUser)
    problem(label(d), `${where}: runAsUser ${sc.runAsUser} is not the image's user ${opts.imageUser}`);
  if (c.securityContext?.readOnlyRootFilesystem !== true)
    problem(label(d), `${where}: the root filesystem is not read-only`);
  if (c.securityContext?.allowPrivilegeEscalation !== false)
    problem(label(d), `${where}: allowPrivilegeEscalation is not false`);
  if (!c.resources?.requests || !c.resources?.limits) problem(label(d), `${where}: no resources`);
  if (c.readinessProbe?.httpGet?.path !== "/readyz")
    problem(label(d), `${where}: the readiness probe is not GET /readyz`);
  if (c.livenessProbe?.httpGet?.path !== "/health")
    problem(label(d), `${where}: the liveness probe is not GET /health`);
  if (opts.imagePort !== undefined && !containerPorts(d).some((p) => p.containerPort === opts.imagePort))
    problem(label(d), `${where}: no containerPort ${opts.imagePort} (the image's port)`);
  // A Service named hearth puts HEARTH_PORT=tcp://... into every pod of the namespace, which
  // hearth would read as its port.
  const clash = byKind("Service").find((s) => /^hearth($|-)/.test(s.obj.metadata.name));
  if (clash && spec.enableServiceLinks !== false)
    problem(label(d), `Service ${clash.obj.metadata.name} injects HEARTH_* variables: set enableServiceLinks: false`);
  // Everything hearth writes must be a mounted volume when the root is read-only.
  const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
  for (const dir of ["/tmp", "/var/lib/hearth"])
    if (!mounts.includes(dir)) problem(label(d), `${where}: ${dir} is not a writable volume`);
}

function checkSet() {
  for (const d of workloads()) checkDeployment(d);
  for (const s of byKind("Service")) {
    const pods = selectedPods(s, s.obj.spec?.selector);
    for (const p of s.obj.spec?.ports ?? []) {
      const target = p.targetPort ?? p.port;
      if (pods.length && !pods.some((d) => portExists(d, target)))
        problem(label(s), `targetPort ${target} is not a port of the selected pods`);
    }
  }
  for (const kind of ["PodDisruptionBudget", "NetworkPolicy"]) {
    for (const o of byKind(kind))
      selectedPods(o, (kind === "NetworkPolicy" ? o.obj.spec?.podSelector : o.obj.spec?.selector)?.matchLabels);
  }
  for (const m of byKind("ServiceMonitor")) {
    const services = byKind("Service").filter((s) => matches(m.obj.spec?.selector?.matchLabels, s.obj.metadata.labels ?? {}));
    if (!services.length) problem(label(m), "selects no Service");
    for (const e of m.obj.spec?.endpoints ?? [])
      if (!services.some((s) => s.obj.spec.ports.some((p) => p.name === e.port)))
        problem(label(m), `no selected Service has a port named ${e.port}`);
  }
  for (const h of byKind("HorizontalPodAutoscaler")) {
    const ref = h.obj.spec?.scaleTargetRef;
    if (!named(ref?.kind, ref?.name)) problem(label(h), `scale target ${ref?.kind}/${ref?.name} is not in the set`);
    for (const m of h.obj.spec?.metrics ?? []) checkMetricName(h, m.pods?.metric?.name ?? m.object?.metric?.name);
  }
  for (const s of byKind("ScaledObject")) {
    const ref = s.obj.spec?.scaleTargetRef;
    if (!named(ref?.kind ?? "Deployment", ref?.name)) problem(label(s), `scale target ${ref?.name} is not in the set`);
    for (const t of s.obj.spec?.triggers ?? [])
      for (const name of (t.metadata?.query ?? "").match(/hearth_[a-z0-9_]+/g) ?? []) checkMetricName(s, name);
  }
  for (const p of byKind("InferencePool")) {
    const pods = selectedPods(p, p.obj.spec?.selector?.matchLabels);
    for (const t of p.obj.spec?.targetPorts ?? [])
      if (pods.length && !pods.some((d) => containerPorts(d).some((c) => c.containerPort === t.number)))
        problem(label(p), `targetPort ${t.number} is not a containerPort of the selected pods`);
    const epp = p.obj.spec?.endpointPickerRef;
    const svc = epp && named("Service", epp.name);
    if (!svc) problem(label(p), `endpoint picker Service ${epp?.name} is not in the set`);
    else if (!svc.obj.spec.ports.some((x) => x.port === epp.port?.number))
      problem(label(p), `Service ${epp.name} has no port ${epp.port?.number}`);
  }
  for (const r of byKind("HTTPRoute")) {
    for (const ref of r.obj.spec?.parentRefs ?? [])
      if (!named(ref.kind ?? "Gateway", ref.name)) problem(label(r), `parent ${ref.name} is not in the set`);
    for (const rule of r.obj.spec?.rules ?? [])
      for (const b of rule.backendRefs ?? [])
        if (!named(b.kind ?? "Service", b.name)) problem(label(r), `backend ${b.kind ?? "Service"}/${b.name} is not in the set`);
  }
  // The endpoint picker's metric names are ones hearth exposes.
  for (const cm of byKind("ConfigMap")) {
    for (const text of Object.values(cm.obj.data ?? {})) {
      if (!/kind:\s*EndpointPickerConfig/.test(text)) continue;
      for (const name of text.match(/hearth_[a-z0-9_]+/g) ?? []) checkMetricName(cm, name);
    }
  }
}

function checkMetricName(o, name) {
  if (opts.metrics && name && !opts.metrics.includes(name))
    problem(label(o), `hearth has no metric ${name}`);
}

// ---- run ----

for (const o of objects) {
  if (typeof o.obj !== "object" || Array.isArray(o.obj)) {
    problem(o.file, "a document that is not an object");
    continue;
  }
  if (!opts.partial) await checkSchema(o);
  const type = o.obj.apiVersion && o.obj.kind && clientType(o.obj.apiVersion, o.obj.kind);
  if (type) checkFields(o.obj, type, "", o);
}
if (opts.set) checkSet();
for (const n of notes) console.log(`note ${n}`);
for (const p of problems) console.log(`FAIL ${p}`);
console.log(`${objects.length} objects, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
