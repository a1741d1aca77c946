//! The production deployment files, checked offline (no cluster, no
//! services): deploy/k8s/validate.py validates the Kubernetes manifests
//! against the Kubernetes schemas (KEDA's resources structurally), then the
//! real `voc config` reads the ConfigMap's voc.toml as each Deployment sees
//! it (its mounted Secret files, its `VOC_*` environment): every key the
//! manifests set must be a voc option, and every secret file a pod's
//! configuration names must be mounted in that pod. The Prometheus rules
//! pass promtool, and every metric they and the operations Grafana
//! dashboard read is one the worker or `voc notify` exports.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project venv's Python (deploy/install.sh puts kubernetes-validate there).
fn python() -> PathBuf {
    let venv = std::env::var_os("VOC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} missing: run deploy/install.sh (or set VOC_VENV)",
        python.display()
    );
    python
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("voc-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `voc <args>` with exactly `env` of the `VOC_*` variables (the test's
/// own, e.g. from deploy/local/env.sh, would override the file).
fn voc(args: &[&str], env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voc"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("VOC_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.output().expect("running voc")
}

/// A Deployment as validate.py --pods wrote it.
struct Pod {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn pods(dir: &Path) -> Vec<Pod> {
    let mut pods = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let pod: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path.join("pod.json")).unwrap()).unwrap();
        let args = pod["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let env = pod["env"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        pods.push(Pod {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            args,
            env,
        });
    }
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    pods
}

/// The value at `VOC_A__B__C`'s path (a.b.c) of `voc config`'s output.
fn lookup<'a>(config: &'a toml::Table, var: &str) -> Option<&'a toml::Value> {
    let path = var.strip_prefix("VOC_")?.to_ascii_lowercase();
    let mut keys = path.split("__");
    let mut cur = config.get(keys.next()?)?;
    for k in keys {
        cur = cur.as_table()?.get(k)?;
    }
    Some(cur)
}

#[test]
fn kubernetes_manifests_validate_and_their_config_is_real_voc_options() {
    let dir = temp_dir("pods");
    let out = Command::new(python())
        .arg(root().join("deploy/k8s/validate.py"))
        .arg("--pods")
        .arg(&dir)
        .output()
        .expect("running deploy/k8s/validate.py");
    assert!(out.status.success(), "validate.py:\n{}", text(&out));

    let pods = pods(&dir);
    let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["voc-notify", "voc-worker", "voc-workorders"]);
    for pod in &pods {
        // The command is a voc subcommand taking --config FILE.
        let (sub, config) = match pod.args.as_slice() {
            [sub, flag, file] if flag == "--config" => (sub.as_str(), file.as_str()),
            other => panic!(
                "{}: args {other:?}, expected [SUBCOMMAND, --config, FILE]",
                pod.name
            ),
        };
        let help = voc(&[sub, "--help"], &[]);
        assert!(
            help.status.success() && text(&help).contains("--config"),
            "{}: `voc {sub} --help`:\n{}",
            pod.name,
            text(&help)
        );
        // Environment overrides are VOC_<SECTION>__<KEY>: anything else is
        // silently not an override at all.
        for (k, _) in &pod.env {
            assert!(
                k.starts_with("VOC_") && k.contains("__"),
                "{}: {k} is not a VOC_<SECTION>__<KEY> override",
                pod.name
            );
        }
        // The real configuration loader: unknown keys (file or environment),
        // bad values and missing secret files fail here.
        let out = voc(&["config", "--config", config], &pod.env);
        assert!(
            out.status.success(),
            "{}: voc config:\n{}",
            pod.name,
            text(&out)
        );
        let effective: toml::Table = String::from_utf8_lossy(&out.stdout).parse().unwrap();
        for (k, v) in &pod.env {
            let got = lookup(&effective, k)
                .unwrap_or_else(|| panic!("{}: {k} names no option of voc config", pod.name));
            let expected: toml::Value = match v.as_str() {
                "[]" => toml::Value::Array(vec![]),
                s => toml::Value::String(s.into()),
            };
            assert_eq!(got, &expected, "{}: {k}", pod.name);
        }
    }

    // The checks above can fail: a misspelt override, an unknown key in the
    // file and a secret file the pod does not mount are each refused.
    let worker = pods.iter().find(|p| p.name == "voc-worker").unwrap();
    let config = &worker.args[2];
    let mut env = worker.env.clone();
    env.push(("VOC_METRICS__LISTN".into(), "0.0.0.0:9464".into()));
    let out = voc(&["config", "--config", config], &env);
    assert!(
        !out.status.success() && text(&out).contains("listn"),
        "{}",
        text(&out)
    );

    let bogus = dir.join("bogus.toml");
    let toml = std::fs::read_to_string(config).unwrap();
    std::fs::write(&bogus, format!("{toml}\n[no_such_section]\nkey = 1\n")).unwrap();
    let out = voc(
        &["config", "--config", bogus.to_str().unwrap()],
        &worker.env,
    );
    assert!(!out.status.success(), "{}", text(&out));

    // Without blanking the webhooks, the worker would need the webhook URL
    // file, which it does not mount.
    let env: Vec<_> = worker
        .env
        .iter()
        .filter(|(k, _)| k != "VOC_NOTIFY__WEBHOOKS")
        .cloned()
        .collect();
    let out = voc(&["config", "--config", config], &env);
    assert!(
        !out.status.success() && text(&out).contains("webhook-ops-wecom-url"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every series the worker and `voc notify` export, from their real
/// registries: each labelled metric given one child, rendered as /metrics
/// renders it (histograms as `_bucket`, `_sum`, `_count`), and the family
/// names (a histogram's base name, as the rules' prose names it).
fn exported_series() -> std::collections::BTreeSet<String> {
    let w = voc_pipeline::metrics::Metrics::new();
    for c in [&w.consumed, &w.stored, &w.dead_letters, &w.retries] {
        c.with_label_values(&["x"]);
    }
    w.alerts.with_label_values(&["x", "y"]);
    w.insert_rows.with_label_values(&["x"]);
    w.stage_seconds.with_label_values(&["x"]);
    w.consumer_lag.with_label_values(&["x", "0"]);
    w.consumer_requests.with_label_values(&["x", "y"]);
    let n = voc_notify::metrics::NotifyMetrics::new();
    n.register_webhooks(["x"]);
    let text = format!(
        "{}{}",
        w.render(),
        voc_pipeline::metrics::render_registry(&n.registry)
    );
    let series: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(family) => family.split(' ').next(),
            None if l.starts_with('#') => None,
            None => l.split(['{', ' ']).next(),
        })
        .map(str::to_string)
        .collect();
    // Every family the registries hold shows up (none left without a child).
    let families = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert!(families >= 18, "{families} families:\n{text}");
    series
}

/// The metric names a PromQL text reads: identifiers starting with `voc_`
/// or `process_` (label names, functions and recording rules excluded).
fn metric_names(promql: &str) -> std::collections::BTreeSet<String> {
    promql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("voc_") || w.starts_with("process_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn metric_names_of_the_rules_and_the_operations_dashboard_are_exported() {
    let exported = exported_series();
    for name in [
        "voc_messages_consumed_total",
        "voc_stage_seconds_bucket",
        "voc_webhook_deliveries_total",
        "process_resident_memory_bytes",
    ] {
        assert!(exported.contains(name), "{name} not in {exported:?}");
    }
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/rules.yml")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/voc-operations.json")).unwrap(),
    )
    .unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut checked = 0;
    for (file, text) in std::iter::once(("rules.yml", rules)).chain(
        exprs
            .into_iter()
            .map(|e| ("deploy/grafana/voc-operations.json", e)),
    ) {
        for name in metric_names(&text) {
            assert!(
                exported.contains(&name),
                "{file} reads {name}, which neither the worker nor voc notify exports"
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "{checked} names checked");
    // The check can fail: a misspelt name is not exported.
    assert!(!exported.contains("voc_message_consumed_total"));
}

/// The operations dashboard: one Prometheus data source, panels laid out
/// without gaps or overlaps on Grafana's 24-column grid, the six views
/// operators need.
#[test]
fn operations_dashboard_is_well_formed() {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/voc-operations.json")).unwrap(),
    )
    .unwrap();
    assert!(v["uid"].is_string() && v["title"].is_string());
    let panels = v["panels"].as_array().unwrap();
    let mut ids = std::collections::HashSet::new();
    let mut cells = std::collections::HashSet::new();
    let mut text = String::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_i64().unwrap()), "duplicate panel id");
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().unwrap(),
            g["y"].as_i64().unwrap(),
            g["w"].as_i64().unwrap(),
            g["h"].as_i64().unwrap(),
        );
        assert!(x + w <= 24 && w > 0 && h > 0, "{}", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{} overlaps", p["title"]);
            }
        }
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}");
            text.push_str(t["expr"].as_str().unwrap());
        }
    }
    for needed in [
        "voc_messages_consumed_total",
        "voc_consumer_lag",
        "voc_stage_seconds_bucket",
        "process_resident_memory_bytes",
        "voc_dead_letters_total",
        "voc_retries_total",
    ] {
        assert!(text.contains(needed), "no panel reads {needed}");
    }
}

/// deploy/prometheus/rules.yml: valid for promtool and its unit tests
/// (rules.test.yml) pass; the metrics it reads are checked above.
#[test]
fn prometheus_rules_pass_promtool() {
    let dir = root().join("deploy/prometheus");
    for args in [
        &["check", "rules", "rules.yml"][..],
        &["test", "rules", "rules.test.yml"][..],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("running promtool (deploy/install.sh installs it: Debian package prometheus)");
        assert!(out.status.success(), "promtool {args:?}:\n{}", text(&out));
    }
}
