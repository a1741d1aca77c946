//! Current ClickHouse releases: the schema and every analyst query on the
//! ClickHouse engine embedded by chdb-core (deploy/install.sh puts it in the
//! venv), against the local 18.16 server holding the same rows.
//!
//! The events come from the real decoders, enricher and ClickHouse sink
//! (tests/dataset, re-sends included), with alerts and work-order updates
//! beside them; deploy/clickhouse/modern_check.py builds the schema that
//! `voc schema print --server-version <chDB's version>` gives (the variants
//! `voc schema migrate` picks on a server of that version), copies the rows
//! the pipeline wrote and compares every answer.

mod dataset;

use dataset::{as_of, Dataset};
use std::path::PathBuf;
use std::process::{Command, Output};
use voc::analytics::{grafana_panels, grafana_sql, AsOf, GRAFANA_DASHBOARD, SAVED_QUERIES};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check_script(args: &[&str]) -> Output {
    let venv = std::env::var_os("VOC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv"));
    Command::new(venv.join("bin/python"))
        .arg(root().join("deploy/clickhouse/modern_check.py"))
        .args(args)
        .output()
        .expect("running modern_check.py with the venv's python (deploy/install.sh)")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Alerts on two pain tags, one resolved work order each (with a repeated
/// update), so the work-order questions have answers.
async fn alerts_and_work_orders(d: &Dataset) {
    let t = |days: i64, hours: i64| {
        (as_of() - chrono::Duration::days(days) + chrono::Duration::hours(hours))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let mut alerts = Vec::new();
    let mut updates = Vec::new();
    for (i, (tag, dept)) in [("c03.t02", "运营管理部"), ("c08.t01", "远程银行中心")]
        .iter()
        .enumerate()
    {
        let (created, sla) = (t(6 + i as i64, 0), t(5 + i as i64, 0));
        alerts.push(format!(
            "('a{i}', 0, 'spike', 'high', 'k{i}', '{created}', '{created}', '{created}', '{sla}', 8, '', \
             ['e{i}'], ['{tag}'], ['{dept}'], '【严重】激增', '{{}}')"
        ));
        for (j, (status, hours)) in [("acknowledged", 1), ("acknowledged", 2), ("resolved", 30)]
            .iter()
            .enumerate()
        {
            updates.push(format!(
                "('u{i}{j}', 'a{i}', 'wo{i}', '{status}', '{dept}', '{}', 'ops', '', '{}')",
                t(6 + i as i64, *hours),
                t(6 + i as i64, *hours)
            ));
        }
    }
    for sql in [
        format!("INSERT INTO {{db}}.alerts VALUES {}", alerts.join(", ")),
        format!(
            "INSERT INTO {{db}}.work_order_updates VALUES {}",
            updates.join(", ")
        ),
        "INSERT INTO {db}.alert_deliveries VALUES ('a0', 0, 'ops', 'delivered', 1, 200, '', now())"
            .into(),
    ] {
        d.sink
            .execute(&sql.replace("{db}", &d.database))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_and_saved_queries_give_the_same_answers_on_a_current_clickhouse() {
    let out = check_script(&["version"]);
    assert!(out.status.success(), "chDB: {}", text(&out));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    assert!(
        major >= 24,
        "chDB embeds ClickHouse {version}, not a current release"
    );

    let d = Dataset::load("modern", 6_000, 3_000, 23).await;
    alerts_and_work_orders(&d).await;
    let dir = std::env::temp_dir().join(format!("voc-modern-{}", d.database));
    let queries = dir.join("queries");
    std::fs::create_dir_all(&queries).unwrap();

    // The DDL `voc schema migrate` runs on a server of chDB's version.
    let ddl = dataset::voc(
        &["schema", "print", "--server-version", &version],
        &d.config,
    );
    assert!(
        ddl.contains("-- 004_event_tags (min_server ")
            && ddl.contains("-- 005_rollups (min_server "),
        "the modern variants are the ones printed for {version}"
    );
    std::fs::write(dir.join("ddl.sql"), &ddl).unwrap();

    // Every query as voc renders it, for the data set's "now"; the
    // work-order questions read the clock (now()): both engines get the
    // same fixed instant instead.
    let at = AsOf::At(as_of());
    let fixed_now = at.sql(&d.database);
    for q in SAVED_QUERIES {
        let sql = q.render(&d.database, at);
        std::fs::write(queries.join(format!("{}.sql", q.name)), sql).unwrap();
    }
    for entry in std::fs::read_dir(root().join("deploy/clickhouse/queries/workorders")).unwrap() {
        let path = entry.unwrap().path();
        let sql = std::fs::read_to_string(&path)
            .unwrap()
            .replace("{db}", &d.database)
            .replace("now()", &fixed_now);
        let name = format!("workorders_{}", path.file_name().unwrap().to_string_lossy());
        std::fs::write(queries.join(name), sql).unwrap();
    }
    let week = chrono::Duration::days(7);
    for (i, (_, sql)) in grafana_panels(GRAFANA_DASHBOARD)
        .unwrap()
        .into_iter()
        .enumerate()
    {
        let sql = grafana_sql(&sql, &d.database, as_of() - week, as_of());
        std::fs::write(queries.join(format!("grafana_panel_{i:02}.sql")), sql).unwrap();
    }

    let out = check_script(&[
        "check",
        "--ddl",
        dir.join("ddl.sql").to_str().unwrap(),
        "--url",
        &dataset::clickhouse_url(),
        "--database",
        &d.database,
        "--queries",
        queries.to_str().unwrap(),
    ]);
    let report = text(&out);
    eprintln!("{report}");
    d.drop().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "modern_check.py:\n{report}");
    // Every question had rows to compare: an empty answer on both proves little.
    let compared = report.lines().filter(|l| l.contains(": same ")).count();
    let empty: Vec<&str> = report
        .lines()
        .filter(|l| l.contains(": same 0 rows"))
        .collect();
    assert!(compared >= SAVED_QUERIES.len() + 2, "{report}");
    // Every materialized view's target (event tags, rollups, negative
    // touches, tag minutes) holds the same on both engines.
    let views = report.matches("view target ").count();
    assert!(views >= 7, "{views} view targets compared:\n{report}");
    assert!(empty.is_empty(), "answers without rows: {empty:?}");
}
