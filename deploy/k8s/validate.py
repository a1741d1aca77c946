#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests in this directory.

    python deploy/k8s/validate.py [--pods DIR]

1. Every built-in resource (Deployment, ConfigMap, Secret, NetworkPolicy,
   PodDisruptionBudget, ...) is validated strictly (unknown fields refused)
   against the Kubernetes OpenAPI schemas bundled with kubernetes-validate,
   without a cluster.
2. KEDA's ScaledObject and TriggerAuthentication are custom resources that
   kubernetes-validate has no schema for: their structure is checked here.
3. References between the files: kustomization.yaml lists every manifest
   (but secrets.yaml), volumes name existing ConfigMaps, Secrets and keys,
   selectors match the pods, the ScaledObject's consumer group and brokers
   are those of voc.toml.

With --pods DIR, each Deployment's view of the configuration is written to
DIR/<deployment>/: root/ holds the files the pod sees (the ConfigMap and
its Secret files with dummy values; absolute paths under the pod's mounts
in voc.toml are rewritten to point there) and pod.json its voc arguments
and environment. tests/deploy.rs runs `voc config` on each of them.

Exit status 0 when everything holds; otherwise each problem on stderr, 1.
"""

import argparse
import json
import pathlib
import re
import sys
import tomllib

import kubernetes_validate
import yaml

HERE = pathlib.Path(__file__).resolve().parent
# The Kubernetes version the manifests target (unhealthyPodEvictionPolicy of
# PodDisruptionBudget is stable since 1.31).
KUBERNETES_VERSION = "1.31.0"
NOT_RESOURCES = {"kustomization.yaml"}
# Listed in kustomization.yaml on purpose: everything but the Secrets template.
NOT_IN_KUSTOMIZATION = {"secrets.yaml"}

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def load():
    """(file name, document) of every manifest, in file order."""
    docs = []
    for path in sorted(HERE.glob("*.yaml")):
        if path.name in NOT_RESOURCES:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def validate_builtin(fname, doc):
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = "/".join(str(p) for p in e.path)
        problem(f"{fname} {name_of(doc)}", f"{path}: {e.message}")
    except kubernetes_validate.SchemaNotFoundError as e:
        problem(f"{fname} {name_of(doc)}", f"no schema: {e}")


def need(where, mapping, *keys):
    """mapping[keys...] or a problem and None."""
    cur = mapping
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            problem(where, f"missing {'.'.join(keys)}")
            return None
        cur = cur[k]
    return cur


def check_keda(fname, doc, by_kind, config):
    where = f"{fname} {name_of(doc)}"
    if doc.get("apiVersion") != "keda.sh/v1alpha1":
        problem(where, f"apiVersion {doc.get('apiVersion')!r}, expected keda.sh/v1alpha1")
    need(where, doc, "metadata", "name")
    spec = need(where, doc, "spec")
    if spec is None:
        return
    if doc["kind"] == "TriggerAuthentication":
        allowed = {"secretTargetRef", "env", "hashiCorpVault", "azureKeyVault", "podIdentity",
                   "configMapTargetRef", "awsSecretManager", "gcpSecretManager", "boundServiceAccountToken"}
        for k in spec:
            if k not in allowed:
                problem(where, f"unknown spec field {k}")
        secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
        for ref in spec.get("secretTargetRef", []):
            if set(ref) != {"parameter", "name", "key"}:
                problem(where, f"secretTargetRef entry needs parameter, name, key: {ref}")
                continue
            if ref["parameter"] not in {"sasl", "username", "password", "tls", "ca", "cert", "key",
                                        "keyPassword", "oauthTokenEndpointUri", "scopes"}:
                problem(where, f"unknown kafka auth parameter {ref['parameter']}")
            secret = secrets.get(ref["name"])
            if secret is None or ref["key"] not in secret_keys(secret):
                problem(where, f"Secret {ref['name']} has no key {ref['key']}")
        return
    # ScaledObject
    allowed = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
               "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "advanced", "triggers", "fallback"}
    for k in spec:
        if k not in allowed:
            problem(where, f"unknown spec field {k}")
    target = need(where, spec, "scaleTargetRef") or {}
    deployments = {d["metadata"]["name"] for d in by_kind.get("Deployment", [])}
    if target.get("kind", "Deployment") != "Deployment" or target.get("name") not in deployments:
        problem(where, f"scaleTargetRef {target} is not a Deployment of these manifests")
    for k in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount"):
        if k in spec and (not isinstance(spec[k], int) or spec[k] < 0):
            problem(where, f"{k} must be a non-negative integer")
    lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if isinstance(lo, int) and isinstance(hi, int) and not 1 <= lo <= hi:
        problem(where, f"need 1 <= minReplicaCount ({lo}) <= maxReplicaCount ({hi})")
    triggers = need(where, spec, "triggers") or []
    if not triggers:
        problem(where, "no triggers")
    auths = {d["metadata"]["name"] for d in by_kind.get("TriggerAuthentication", [])}
    for t in triggers:
        if t.get("type") != "kafka":
            problem(where, f"trigger type {t.get('type')!r}, expected kafka")
            continue
        meta = t.get("metadata", {})
        for k, v in meta.items():
            if not isinstance(v, str):
                problem(where, f"trigger metadata {k} must be a string (KEDA reads strings), got {v!r}")
        if meta.get("consumerGroup") != config["kafka"].get("group_id"):
            problem(where, f"consumerGroup {meta.get('consumerGroup')!r} is not voc.toml's kafka.group_id")
        if meta.get("bootstrapServers") != config["kafka"].get("brokers"):
            problem(where, "bootstrapServers differ from voc.toml's kafka.brokers")
        for k in ("lagThreshold", "activationLagThreshold"):
            if k in meta and not str(meta[k]).isdigit():
                problem(where, f"{k} must be a whole number")
        if meta.get("offsetResetPolicy", "latest") not in ("earliest", "latest"):
            problem(where, "offsetResetPolicy must be earliest or latest")
        if meta.get("offsetResetPolicy") != config["kafka"].get("auto_offset_reset", "earliest"):
            problem(where, "offsetResetPolicy differs from voc.toml's kafka.auto_offset_reset")
        ref = t.get("authenticationRef", {}).get("name")
        if ref is not None and ref not in auths:
            problem(where, f"authenticationRef {ref} is not a TriggerAuthentication of these manifests")


def secret_keys(secret):
    return set(secret.get("data", {})) | set(secret.get("stringData", {}))


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def check_references(docs, by_kind):
    listed = yaml.safe_load((HERE / "kustomization.yaml").read_text()).get("resources", [])
    files = {f for f, _ in docs}
    for f in sorted(files - NOT_IN_KUSTOMIZATION):
        if f not in listed:
            problem("kustomization.yaml", f"does not list {f}")
    for f in listed:
        if not (HERE / f).exists():
            problem("kustomization.yaml", f"lists missing {f}")
        if f in NOT_IN_KUSTOMIZATION:
            problem("kustomization.yaml", f"lists {f}: re-applying it would overwrite the real Secrets")
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
    accounts = {d["metadata"]["name"] for d in by_kind.get("ServiceAccount", [])}
    pods = []
    for d in by_kind.get("Deployment", []):
        where = name_of(d)
        spec = d["spec"]["template"]["spec"]
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        pods.append(labels)
        if not labels_match(d["spec"]["selector"], labels):
            problem(where, "selector does not match the pod labels")
        if spec.get("serviceAccountName") not in accounts:
            problem(where, f"serviceAccountName {spec.get('serviceAccountName')} is not defined")
        for v in spec.get("volumes", []):
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                problem(where, f"ConfigMap {v['configMap']['name']} is not defined")
            for src in v.get("projected", {}).get("sources", []):
                if "secret" in src:
                    s = secrets.get(src["secret"]["name"])
                    for item in src["secret"].get("items", []):
                        if s is None or item["key"] not in secret_keys(s):
                            problem(where, f"Secret {src['secret']['name']} has no key {item['key']}")
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            if not (spec.get("securityContext", {}).get("runAsNonRoot") and sc.get("readOnlyRootFilesystem")
                    and sc.get("allowPrivilegeEscalation") is False):
                problem(where, f"container {c['name']}: needs runAsNonRoot, readOnlyRootFilesystem, no privilege escalation")
            if "limits" not in c.get("resources", {}) or "requests" not in c.get("resources", {}):
                problem(where, f"container {c['name']}: needs resource requests and limits")
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for d in by_kind.get(kind, []):
            sel = d["spec"].get("selector") or d["spec"].get("podSelector") or {}
            if not any(labels_match(sel, p) for p in pods):
                problem(name_of(d), "selects no pod of these manifests")


def config_of(by_kind):
    """voc.toml of the ConfigMap, parsed."""
    cms = [d for d in by_kind.get("ConfigMap", []) if "voc.toml" in d.get("data", {})]
    if len(cms) != 1:
        problem("configmap.yaml", "expected exactly one ConfigMap with voc.toml")
        return None, {}
    text = cms[0]["data"]["voc.toml"]
    try:
        return cms[0], tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        problem("configmap.yaml voc.toml", str(e))
        return None, {}


DUMMY = {"pseudonym-key": "0123456789abcdef0123456789abcdef"}


def write_pods(out, by_kind):
    """Each Deployment's files and environment, for `voc config` (see module doc)."""
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    for d in by_kind.get("Deployment", []):
        name = d["metadata"]["name"]
        spec = d["spec"]["template"]["spec"]
        root = (out / name / "root").resolve()
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        c = spec["containers"][0]
        mounts = [m["mountPath"].rstrip("/") + "/" for m in c.get("volumeMounts", [])]
        pattern = re.compile('"(' + "|".join(re.escape(m) for m in mounts) + ")")

        def in_root(text):
            """Absolute paths into the pod's mounts, pointed into root/."""
            return pattern.sub(lambda mt: f'"{root}{mt.group(1)}', text)

        for m in c.get("volumeMounts", []):
            v = volumes[m["name"]]
            target = root / m["mountPath"].lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            if "configMap" in v:
                for key, text in configmaps[v["configMap"]["name"]]["data"].items():
                    (target / key).write_text(in_root(text))
            for src in v.get("projected", {}).get("sources", []):
                for item in src.get("secret", {}).get("items", []):
                    value = DUMMY.get(item["path"], f"dummy-{item['path']}")
                    if "url" in item["path"]:
                        value = "https://hooks.example.invalid/send?key=dummy"
                    (target / item["path"]).write_text(value + "\n")
        args = [a if not a.startswith("/") else str(root) + a for a in c.get("args", [])]
        env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
        (out / name / "pod.json").write_text(json.dumps({"args": args, "env": env}, indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=pathlib.Path, help="write each Deployment's config view here")
    opts = ap.parse_args()
    docs = load()
    by_kind = {}
    for fname, doc in docs:
        by_kind.setdefault(doc.get("kind"), []).append(doc)
    _, config = config_of(by_kind)
    for fname, doc in docs:
        if doc.get("apiVersion", "").startswith("keda.sh/"):
            check_keda(fname, doc, by_kind, config)
        else:
            validate_builtin(fname, doc)
    check_references(docs, by_kind)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if opts.pods:
        write_pods(opts.pods, by_kind)
    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
    print(f"deploy/k8s: {len(docs)} resources valid ({counts}; Kubernetes {KUBERNETES_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
