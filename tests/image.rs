//! The container image without a Docker engine: deploy/image/layout.sh (the
//! script the Dockerfile's builder runs) builds the image's file tree into a
//! temporary directory with this build's binary, and that tree alone — its
//! binary, model, ONNX Runtime, voc.toml and environment file, nothing of
//! the checkout or the venv — classifies Chinese feedback. The Dockerfile is
//! checked structurally, and against the manifests in deploy/k8s/.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The image's environment as layout.sh writes it (`KEY=VALUE` lines).
fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=VALUE: {l}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `OUT/opt/voc/bin/voc args` with nothing but PATH and `env`, in OUT.
fn image_voc(out: &Path, args: &[&str], env: &[(String, String)], stdin: &str) -> Output {
    let mut child = Command::new(out.join("opt/voc/bin/voc"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the layout's voc");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn layout_alone_classifies_text() {
    let tmp = TempDir(std::env::temp_dir().join(format!("voc-image-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    let out = tmp.0.join("root");
    let mut layout = Command::new("bash");
    layout
        .arg(root().join("deploy/image/layout.sh"))
        .arg(&out)
        .arg(env!("CARGO_BIN_EXE_voc"));
    if std::env::var_os("VOC_VENV").is_none() {
        layout.env("VOC_VENV", root().join(".venv"));
    }
    let done = layout.output().unwrap();
    assert!(
        done.status.success(),
        "layout.sh failed (deploy/install.sh makes the venv; or set VOC_VENV):\n{}",
        text(&done)
    );

    // The paths the Dockerfile and deploy/k8s/configmap.yaml name.
    for file in [
        "opt/voc/bin/voc",
        "opt/voc/models/voc-text.onnx",
        "opt/voc/models/voc-text.meta.json",
        "opt/onnxruntime/lib/libonnxruntime.so",
        "etc/voc/voc.toml",
        "opt/voc/image.env",
    ] {
        assert!(out.join(file).is_file(), "layout lacks /{file}");
    }
    let link = std::fs::read_link(out.join("opt/onnxruntime/lib/libonnxruntime.so")).unwrap();
    assert!(
        link.is_relative() && link.to_string_lossy().starts_with("libonnxruntime.so."),
        "libonnxruntime.so must link to the versioned file beside it: {}",
        link.display()
    );

    // The image's environment, its absolute paths moved under OUT.
    let image_env = env_file(&out.join("opt/voc/image.env"));
    let names: Vec<&str> = image_env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "ORT_DYLIB_PATH",
            "VOC_ENRICH__MODEL_PATH",
            "VOC_METRICS__LISTEN"
        ]
    );
    let under_out: Vec<(String, String)> = image_env
        .iter()
        .map(|(k, v)| match v.strip_prefix('/') {
            Some(rel) => {
                assert!(out.join(rel).is_file(), "{k}={v}: not in the layout");
                (k.clone(), out.join(rel).to_string_lossy().into_owned())
            }
            None => (k.clone(), v.clone()),
        })
        .collect();

    // The image's voc.toml, read as in the image: the environment's names are
    // voc options (an unknown VOC_* name would be ignored silently).
    let config = out.join("etc/voc/voc.toml");
    let config = config.to_str().unwrap();
    let cfg = image_voc(&out, &["config", "--config", config], &image_env, "");
    assert!(cfg.status.success(), "voc config:\n{}", text(&cfg));
    let cfg = String::from_utf8_lossy(&cfg.stdout);
    assert!(
        cfg.contains(r#"model_path = "/opt/voc/models/voc-text.onnx""#),
        "{cfg}"
    );
    assert!(cfg.contains(r#"listen = "0.0.0.0:9464""#), "{cfg}");
    let moved = image_voc(&out, &["config", "--config", config], &under_out, "");
    let moved = String::from_utf8_lossy(&moved.stdout);
    let model = out.join("opt/voc/models/voc-text.onnx");
    assert!(
        moved.contains(&format!(r#"model_path = "{}""#, model.display())),
        "VOC_ENRICH__MODEL_PATH is not enrich.model_path:\n{moved}"
    );

    let run = image_voc(
        &out,
        &["classify", "--demo", "--config", config],
        &under_out,
        "手机银行转账一直失败，客服也联系不上，太让人失望了\n网点工作人员态度很好，业务办理很快，非常满意\n",
    );
    assert!(
        run.status.success(),
        "voc classify from the layout:\n{}",
        text(&run)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{}", text(&run));
    let labels: Vec<&str> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["sentiment"]["source"], "model", "{l}");
            l["sentiment"]["label"].as_str().unwrap()
        })
        .collect();
    assert_eq!(labels, ["negative", "positive"]);
}

/// The arguments of every Dockerfile instruction `word` (continuation lines joined).
fn instructions(dockerfile: &str, word: &str) -> Vec<String> {
    dockerfile
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| l.split_whitespace().next() == Some(word))
        .map(|l| l[word.len()..].trim().to_string())
        .collect()
}

#[test]
fn dockerfile_builds_the_layout_and_runs_unprivileged() {
    let docker = read("deploy/image/Dockerfile");
    let from = instructions(&docker, "FROM");
    assert_eq!(from.len(), 2, "builder and runtime stages: {from:?}");
    assert!(from[0].ends_with("AS builder"), "{from:?}");
    assert!(from[1].contains("-slim"), "{from:?}");

    let run = instructions(&docker, "RUN");
    assert!(
        run.iter()
            .any(|r| r.contains("cargo build --release --locked")),
        "{run:?}"
    );
    assert!(
        run.iter()
            .any(|r| r.contains("deploy/image/layout.sh /layout target/release/voc")),
        "the builder must run layout.sh: {run:?}"
    );
    assert!(
        run.iter()
            .any(|r| r.contains("useradd") && r.contains("--uid 10001")),
        "{run:?}"
    );
    assert_eq!(
        instructions(&docker, "COPY").last().unwrap(),
        "--from=builder /layout/ /"
    );

    let user = instructions(&docker, "USER");
    assert_eq!(user, ["10001:10001"], "one non-root USER");
    // deploy/k8s/worker-deployment.yaml runs the pods as that uid.
    assert!(read("deploy/k8s/worker-deployment.yaml").contains("runAsUser: 10001"));

    let health = instructions(&docker, "HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(health[0].contains("/dev/tcp/127.0.0.1/9464") && health[0].contains("GET /readyz"));
    assert_eq!(instructions(&docker, "EXPOSE"), ["9464"]);
    assert_eq!(
        instructions(&docker, "ENTRYPOINT"),
        [r#"["/opt/voc/bin/voc"]"#]
    );
    assert_eq!(
        instructions(&docker, "CMD"),
        [r#"["run", "--config", "/etc/voc/voc.toml"]"#]
    );

    // The ENV lines are the environment file layout.sh writes.
    let layout = read("deploy/image/layout.sh");
    let body = layout
        .split("image.env\" <<'ENV'\n")
        .nth(1)
        .and_then(|rest| rest.split("\nENV\n").next())
        .expect("layout.sh writes image.env from a heredoc");
    let env = instructions(&docker, "ENV");
    for line in body.lines() {
        assert!(env.iter().any(|e| e == line), "Dockerfile lacks ENV {line}");
    }

    // The paths deploy/k8s/configmap.yaml configures are the image's.
    let configmap = read("deploy/k8s/configmap.yaml");
    assert!(configmap.contains(r#"model_path = "/opt/voc/models/voc-text.onnx""#));
    assert!(configmap.contains(r#"onnxruntime_path = "/opt/onnxruntime/lib/libonnxruntime.so""#));

    let ignore = read(".dockerignore");
    for dir in ["target", ".venv", ".git"] {
        assert!(
            ignore.lines().any(|l| l == dir),
            ".dockerignore lacks {dir}"
        );
    }
}
