//! `voc report`: one self-contained HTML file (ECharts embedded, works
//! offline) built from the saved queries: NPS trend, channel mix,
//! journey-stage heatmap, tag ranking by pain/itch/delight, top open problems,
//! pain points after App 8.2, and the detractor list with masked text.
//!
//! Every number on the page comes from a file in deploy/clickhouse/queries/,
//! so the report, `voc query` and the tests agree by construction.

use crate::analytics::{AsOf, SavedQuery};
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use voc_sink::clickhouse::read::Table;
use voc_sink::ClickHouseSink;

const TEMPLATE: &str = include_str!("../deploy/report/template.html");
const ECHARTS: &str = include_str!("../deploy/report/echarts.min.js");

/// Chart containers on the page (the Chromium test checks each drew).
pub const CHARTS: [&str; 4] = ["nps_trend", "channel_mix", "journey_heatmap", "tag_ranking"];

/// The query results a report is made of, by saved-query name.
pub struct ReportData {
    pub database: String,
    pub as_of: String,
    pub tables: BTreeMap<&'static str, (SavedQuery, Table)>,
}

const USED: [&str; 7] = [
    "10_nps_trend_by_day",
    "07_channel_mix",
    "12_journey_stage_heatmap",
    "08_tag_ranking_by_polarity",
    "05_top_open_problems_by_department",
    "02_pain_points_after_app_release_8_2",
    "09_detractor_list",
];

/// Run the queries the report needs.
pub async fn collect(
    sink: &ClickHouseSink,
    database: &str,
    as_of: AsOf,
) -> anyhow::Result<ReportData> {
    let mut tables = BTreeMap::new();
    for name in USED {
        let q = SavedQuery::find(name).expect("report queries are saved queries");
        let t = sink
            .query_table(&q.render(database, as_of))
            .await
            .with_context(|| format!("running {name}"))?;
        tables.insert(name, (q, t));
    }
    let as_of = match as_of {
        AsOf::Now => "now (server clock)".to_string(),
        AsOf::Latest => "the newest event in the data".to_string(),
        AsOf::At(t) => format!("{} UTC", t.format("%Y-%m-%d %H:%M:%S")),
    };
    Ok(ReportData {
        database: database.to_string(),
        as_of,
        tables,
    })
}

fn col<'a>(t: &'a Table, name: &str) -> impl Iterator<Item = &'a Value> + 'a {
    let i = t
        .column(name)
        .unwrap_or_else(|| panic!("saved query lacks column {name}"));
    t.rows.iter().map(move |r| &r[i])
}

fn numbers(t: &Table, name: &str) -> Vec<Value> {
    col(t, name)
        .map(|v| Table::number(v).map_or(Value::Null, |x| json!(x)))
        .collect()
}

fn texts(t: &Table, name: &str) -> Vec<String> {
    col(t, name).map(Table::text).collect()
}

/// The chart data the page's script reads (`VOC`).
pub fn chart_data(d: &ReportData) -> Value {
    let t = |n: &str| &d.tables[n].1;
    let trend = t("10_nps_trend_by_day");
    let mix = t("07_channel_mix");
    let channel_mix: Vec<Value> = texts(mix, "channel")
        .into_iter()
        .zip(numbers(mix, "feedback"))
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let heat = t("12_journey_stage_heatmap");
    let stages: Vec<String> = {
        let mut s = texts(heat, "journey_stage");
        s.dedup();
        s
    };
    let mut channels = texts(heat, "channel");
    channels.sort();
    channels.dedup();
    let mut max = 0.0f64;
    let cells: Vec<Value> = texts(heat, "journey_stage")
        .iter()
        .zip(texts(heat, "channel"))
        .zip(numbers(heat, "feedback"))
        .map(|((st, ch), v)| {
            max = max.max(v.as_f64().unwrap_or(0.0));
            let x = channels.iter().position(|c| *c == ch).unwrap_or(0);
            let y = stages.iter().position(|s| s == st).unwrap_or(0);
            json!([x, y, v])
        })
        .collect();
    let tags = t("08_tag_ranking_by_polarity");
    let mut ranking = serde_json::Map::new();
    for p in ["pain", "itch", "delight"] {
        let (mut labels, mut values) = (Vec::new(), Vec::new());
        for ((pol, zh), v) in texts(tags, "polarity")
            .iter()
            .zip(texts(tags, "tag_zh"))
            .zip(numbers(tags, "feedback"))
        {
            if pol == p {
                labels.push(zh);
                values.push(v);
            }
        }
        ranking.insert(p.into(), json!({"labels": labels, "values": values}));
    }
    json!({
        "nps_trend": {
            "day": texts(trend, "day"),
            "nps": numbers(trend, "nps"),
            "nps_with_inferred": numbers(trend, "nps_with_inferred"),
            "feedback": numbers(trend, "feedback"),
        },
        "channel_mix": channel_mix,
        "heatmap": {"stages": stages, "channels": channels, "cells": cells, "max": max},
        "tag_ranking": ranking,
    })
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML table of some columns of a result, cells escaped.
fn html_table(t: &Table, columns: &[&str]) -> String {
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| {
            t.column(c)
                .unwrap_or_else(|| panic!("saved query lacks column {c}"))
        })
        .collect();
    let mut s = String::from("<table><tr>");
    for c in columns {
        s += &format!("<th>{}</th>", escape(c));
    }
    s += "</tr>";
    for row in &t.rows {
        s += "<tr>";
        for &i in &idx {
            let v = &row[i];
            let class = if matches!(v, Value::Number(_)) || t.types[i].contains("Int") {
                " class=\"num\""
            } else {
                ""
            };
            s += &format!("<td{class}>{}</td>", escape(&Table::text(v)));
        }
        s += "</tr>";
    }
    if t.rows.is_empty() {
        s += &format!("<tr><td colspan=\"{}\">(none)</td></tr>", columns.len());
    }
    s + "</table>"
}

/// The whole page.
pub fn render(d: &ReportData, generated: &str) -> String {
    let t = |n: &str| &d.tables[n].1;
    let q = |n: &str| escape(&d.tables[n].0.question().replace("{now}", "the as-of time"));
    // JSON inside <script>: no "</" may close the element early.
    let data = chart_data(d).to_string().replace("</", "<\\/");
    let events: f64 = numbers(t("10_nps_trend_by_day"), "feedback")
        .iter()
        .filter_map(Value::as_f64)
        .sum();
    TEMPLATE
        .replace("{{database}}", &escape(&d.database))
        .replace("{{as_of}}", &escape(&d.as_of))
        .replace("{{generated}}", &escape(generated))
        .replace("{{events}}", &format!("{events}"))
        .replace("{{q_nps_trend}}", &q("10_nps_trend_by_day"))
        .replace("{{q_channel_mix}}", &q("07_channel_mix"))
        .replace("{{q_heatmap}}", &q("12_journey_stage_heatmap"))
        .replace("{{q_tags}}", &q("08_tag_ranking_by_polarity"))
        .replace("{{q_open}}", &q("05_top_open_problems_by_department"))
        .replace("{{q_release}}", &q("02_pain_points_after_app_release_8_2"))
        .replace("{{q_detractors}}", &q("09_detractor_list"))
        .replace(
            "{{table_open}}",
            &html_table(
                t("05_top_open_problems_by_department"),
                &[
                    "tag_zh",
                    "department",
                    "journey_stage",
                    "feedback",
                    "customers",
                    "detractors",
                ],
            ),
        )
        .replace(
            "{{table_release}}",
            &html_table(
                t("02_pain_points_after_app_release_8_2"),
                &[
                    "tag_zh",
                    "department",
                    "share_before_pct",
                    "share_after_pct",
                    "growth_pp",
                ],
            ),
        )
        .replace(
            "{{table_detractors}}",
            &html_table(
                t("09_detractor_list"),
                &[
                    "time_bj",
                    "channel",
                    "nps_score",
                    "sentiment",
                    "tags",
                    "departments",
                    "masked_text",
                ],
            ),
        )
        .replace("{{data}}", &data)
        // Last: the library's own text is never searched for placeholders.
        .replace("{{echarts}}", ECHARTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cols: &[(&str, &str)], rows: Vec<Vec<Value>>) -> Table {
        Table {
            columns: cols.iter().map(|c| c.0.to_string()).collect(),
            types: cols.iter().map(|c| c.1.to_string()).collect(),
            rows,
        }
    }

    fn sample() -> ReportData {
        let mut tables = BTreeMap::new();
        let add = |tables: &mut BTreeMap<_, _>, name: &'static str, t: Table| {
            tables.insert(name, (SavedQuery::find(name).unwrap(), t));
        };
        add(
            &mut tables,
            "10_nps_trend_by_day",
            table(
                &[
                    ("day", "Date"),
                    ("scored", "UInt64"),
                    ("nps", "Float64"),
                    ("feedback", "UInt64"),
                    ("nps_with_inferred", "Float64"),
                ],
                vec![vec![
                    json!("2026-11-24"),
                    json!("3"),
                    json!(-12.5),
                    json!("40"),
                    json!(-20.0),
                ]],
            ),
        );
        add(
            &mut tables,
            "07_channel_mix",
            table(
                &[("channel", "String"), ("feedback", "UInt64")],
                vec![vec![json!("app"), json!("30")]],
            ),
        );
        add(
            &mut tables,
            "12_journey_stage_heatmap",
            table(
                &[
                    ("journey_stage", "String"),
                    ("channel", "String"),
                    ("feedback", "UInt64"),
                ],
                vec![vec![json!("service"), json!("app"), json!("7")]],
            ),
        );
        add(
            &mut tables,
            "08_tag_ranking_by_polarity",
            table(
                &[
                    ("polarity", "String"),
                    ("tag_zh", "String"),
                    ("feedback", "UInt64"),
                ],
                vec![vec![json!("pain"), json!("转人工难"), json!("5")]],
            ),
        );
        let open = [
            ("tag_zh", "String"),
            ("department", "String"),
            ("journey_stage", "String"),
            ("feedback", "UInt64"),
            ("customers", "UInt64"),
            ("detractors", "UInt64"),
        ];
        add(
            &mut tables,
            "05_top_open_problems_by_department",
            table(&open, vec![]),
        );
        let rel = [
            ("tag_zh", "String"),
            ("department", "String"),
            ("share_before_pct", "Float64"),
            ("share_after_pct", "Float64"),
            ("growth_pp", "Float64"),
        ];
        add(
            &mut tables,
            "02_pain_points_after_app_release_8_2",
            table(&rel, vec![]),
        );
        let det = [
            ("time_bj", "String"),
            ("channel", "String"),
            ("nps_score", "Nullable(UInt8)"),
            ("sentiment", "Float32"),
            ("tags", "String"),
            ("departments", "String"),
            ("masked_text", "String"),
        ];
        add(
            &mut tables,
            "09_detractor_list",
            table(
                &det,
                vec![vec![
                    json!("2026-11-25 10:00:00"),
                    json!("app"),
                    Value::Null,
                    json!(-0.9),
                    json!("c08.t01"),
                    json!("远程银行中心"),
                    json!("<script>alert(1)</script> 电话[PHONE]"),
                ]],
            ),
        );
        ReportData {
            database: "voc".into(),
            as_of: "x".into(),
            tables,
        }
    }

    #[test]
    fn page_is_self_contained_and_escapes_feedback_text() {
        let html = render(&sample(), "2026-11-25 12:00");
        assert!(!html.contains("{{"), "unfilled placeholder");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; 电话[PHONE]"));
        assert!(!html.contains("<script>alert(1)"));
        assert!(!html.contains("<script src"), "no external scripts");
        for id in CHARTS {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(html.contains("转人工难"));
    }

    #[test]
    fn chart_data_shapes() {
        let v = chart_data(&sample());
        assert_eq!(v["heatmap"]["cells"], json!([[0, 0, 7.0]]));
        assert_eq!(v["tag_ranking"]["pain"]["labels"], json!(["转人工难"]));
        assert_eq!(v["channel_mix"][0]["name"], "app");
        assert_eq!(v["nps_trend"]["nps"], json!([-12.5]));
    }
}
