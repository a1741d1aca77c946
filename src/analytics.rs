//! The saved analyst questions (deploy/clickhouse/queries/*.sql), embedded so
//! `voc query`, `voc report`, the tests and the benchmark run the very files
//! analysts read.
//!
//! Each file starts with a comment saying what it answers and uses two
//! placeholders: `{db}` (the database) and `{now}` (the end of "this week",
//! "today", "the last hour"...), which [`AsOf`] fills: the server's `now()`,
//! the newest event in the data, or a fixed time.

use chrono::{DateTime, Utc};

/// One saved question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedQuery {
    /// File name without `.sql`, e.g. `07_channel_mix`.
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! saved {
    ($name:literal) => {
        SavedQuery {
            name: $name,
            sql: include_str!(concat!("../deploy/clickhouse/queries/", $name, ".sql")),
        }
    };
}

/// Every saved query, in file-name order (a test keeps this equal to the folder).
pub const SAVED_QUERIES: &[SavedQuery] = &[
    saved!("01_nps_by_branch_week_over_week"),
    saved!("02_pain_points_after_app_release_8_2"),
    saved!("03_credit_card_detractors_by_journey_stage"),
    saved!("04_transfer_to_human_call_centre_today"),
    saved!("05_top_open_problems_by_department"),
    saved!("06_high_value_vs_other_customers_pain_points"),
    saved!("07_channel_mix"),
    saved!("08_tag_ranking_by_polarity"),
    saved!("09_detractor_list"),
    saved!("10_nps_trend_by_day"),
    saved!("11_sentiment_by_channel_and_day"),
    saved!("12_journey_stage_heatmap"),
    saved!("13_pain_feedback_per_minute_last_hour"),
    saved!("14_nps_by_customer_segment"),
];

/// What `{now}` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The server clock: live dashboards.
    Now,
    /// The newest event time in the data: replays, demos, old extracts.
    Latest,
    /// A fixed instant: reproducible reports and tests.
    At(DateTime<Utc>),
}

impl AsOf {
    /// `now`, `latest` or a time `YYYY-MM-DD HH:MM:SS` (UTC) / RFC 3339.
    pub fn parse(s: &str) -> Result<AsOf, String> {
        match s.trim() {
            "now" => Ok(AsOf::Now),
            "latest" => Ok(AsOf::Latest),
            t => DateTime::parse_from_rfc3339(t)
                .map(|d| d.with_timezone(&Utc))
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
                        .map(|n| n.and_utc())
                })
                .map(AsOf::At)
                .map_err(|_| {
                    format!("{t:?}: want now, latest, or a UTC time like 2026-11-25 12:00:00")
                }),
        }
    }

    /// The SQL expression for `{now}`.
    pub fn sql(&self, db: &str) -> String {
        match self {
            AsOf::Now => "now()".into(),
            AsOf::Latest => format!("(SELECT max(event_time) FROM {db}.feedback_events)"),
            AsOf::At(t) => format!("toDateTime('{}', 'UTC')", t.format("%Y-%m-%d %H:%M:%S")),
        }
    }
}

impl SavedQuery {
    /// The question it answers: the leading comment, without `--`.
    pub fn question(&self) -> String {
        self.sql
            .lines()
            .map_while(|l| l.trim().strip_prefix("--"))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The SQL for `db`, with `{now}` filled.
    pub fn render(&self, db: &str, as_of: AsOf) -> String {
        substitute(self.sql, db, as_of)
    }

    pub fn find(name: &str) -> Option<SavedQuery> {
        SAVED_QUERIES
            .iter()
            .find(|q| q.name == name || q.name.split_once('_').is_some_and(|(n, _)| n == name))
            .copied()
    }
}

/// Fill `{now}` and `{db}` in any query text (saved queries, dashboard panels).
pub fn substitute(sql: &str, db: &str, as_of: AsOf) -> String {
    sql.replace("{now}", &as_of.sql(db)).replace("{db}", db)
}

/// The Grafana dashboard (deploy/grafana/voc-dashboard.json).
pub const GRAFANA_DASHBOARD: &str = include_str!("../deploy/grafana/voc-dashboard.json");

/// Each panel's title and SQL, from the dashboard JSON.
pub fn grafana_panels(json: &str) -> Result<Vec<(String, String)>, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let panels = v["panels"].as_array().ok_or("no panels")?;
    let mut out = Vec::new();
    for p in panels {
        let title = p["title"]
            .as_str()
            .ok_or("a panel without a title")?
            .to_string();
        for t in p["targets"]
            .as_array()
            .ok_or(format!("{title}: no targets"))?
        {
            let sql = t["rawSql"].as_str().ok_or(format!("{title}: no rawSql"))?;
            out.push((title.clone(), sql.to_string()));
        }
    }
    Ok(out)
}

/// Expand the macros the ClickHouse datasource plugin expands (`$__timeFilter`,
/// `$__fromTime`, `$__toTime`, `$__dateFilter`, `$__interval_s`) and the
/// dashboard variable `${db}`, as the plugin would for the range `from..to`.
pub fn grafana_sql(sql: &str, db: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let (f, t) = (from.timestamp(), to.timestamp());
    let mut out = sql
        .replace("${db}", db)
        .replace("$__fromTime", &format!("toDateTime({f})"))
        .replace("$__toTime", &format!("toDateTime({t})"))
        .replace("$__interval_s", "60");
    for (macro_name, lo, hi) in [
        (
            "$__timeFilter(",
            format!("toDateTime({f})"),
            format!("toDateTime({t})"),
        ),
        (
            "$__dateFilter(",
            format!("toDate('{}')", from.format("%Y-%m-%d")),
            format!("toDate('{}')", to.format("%Y-%m-%d")),
        ),
    ] {
        while let Some(start) = out.find(macro_name) {
            let Some(len) = out[start..].find(')') else {
                break;
            };
            let col = out[start + macro_name.len()..start + len]
                .trim()
                .to_string();
            out.replace_range(
                start..start + len + 1,
                &format!("{col} >= {lo} AND {col} <= {hi}"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_file_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/clickhouse/queries");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".sql").map(str::to_string))
            .collect();
        files.sort();
        let names: Vec<&str> = SAVED_QUERIES.iter().map(|q| q.name).collect();
        assert_eq!(files, names);
        assert!(names.len() >= 12);
    }

    #[test]
    fn every_query_says_what_it_answers_and_avoids_what_18_16_lacks() {
        for q in SAVED_QUERIES {
            assert!(q.question().len() > 40, "{}: no leading comment", q.name);
            let upper = q.sql.to_uppercase();
            for banned in [" OVER (", "TOSTARTOFINTERVAL", "MAP(", "DATETIME64"] {
                assert!(!upper.contains(banned), "{} uses {banned}", q.name);
            }
            let sql = q.render("voc", AsOf::Now);
            assert!(!sql.contains('{'), "{}: unfilled placeholder", q.name);
        }
    }

    #[test]
    fn grafana_dashboard_is_well_formed_and_uses_the_clickhouse_plugin() {
        let v: serde_json::Value = serde_json::from_str(GRAFANA_DASHBOARD).expect("valid JSON");
        assert!(v["uid"].is_string() && v["title"].is_string());
        let panels = v["panels"].as_array().unwrap();
        assert!(panels.len() >= 8);
        let mut ids = std::collections::HashSet::new();
        for p in panels {
            assert!(ids.insert(p["id"].as_i64().unwrap()), "duplicate panel id");
            assert_eq!(p["datasource"]["type"], "grafana-clickhouse-datasource");
            assert!(p["gridPos"]["w"].as_i64().unwrap() > 0);
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(t["datasource"]["type"], "grafana-clickhouse-datasource");
                assert_eq!(t["editorType"], "sql");
            }
        }
        let sqls = grafana_panels(GRAFANA_DASHBOARD).unwrap();
        assert_eq!(sqls.len(), panels.len());
        for (title, sql) in sqls {
            assert!(
                sql.contains("$__timeFilter("),
                "{title}: not bound to the time picker"
            );
            // 18.16 has no toStartOfInterval, which $__timeInterval expands to.
            assert!(!sql.contains("$__timeInterval"), "{title}");
        }
    }

    #[test]
    fn grafana_macros_expand_like_the_plugin() {
        let from = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 18, 0, 0, 0).unwrap();
        let to = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 25, 0, 0, 0).unwrap();
        let sql = grafana_sql(
            "SELECT 1 FROM ${db}.t WHERE $__timeFilter(event_time) AND $__dateFilter(day) AND x < $__toTime",
            "voc",
            from,
            to,
        );
        assert_eq!(
            sql,
            "SELECT 1 FROM voc.t WHERE event_time >= toDateTime(1794960000) AND event_time <= toDateTime(1795564800) \
             AND day >= toDate('2026-11-18') AND day <= toDate('2026-11-25') AND x < toDateTime(1795564800)"
        );
    }

    #[test]
    fn as_of_forms() {
        assert_eq!(AsOf::parse("now").unwrap().sql("d"), "now()");
        assert!(AsOf::parse("latest")
            .unwrap()
            .sql("d")
            .contains("d.feedback_events"));
        assert_eq!(
            AsOf::parse("2026-11-25 12:00:00").unwrap().sql("d"),
            "toDateTime('2026-11-25 12:00:00', 'UTC')"
        );
        assert_eq!(
            AsOf::parse("2026-11-25T20:00:00+08:00").unwrap(),
            AsOf::parse("2026-11-25 12:00:00").unwrap()
        );
        assert!(AsOf::parse("yesterday").is_err());
        assert_eq!(SavedQuery::find("07").unwrap().name, "07_channel_mix");
    }
}
