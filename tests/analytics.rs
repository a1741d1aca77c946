//! The analytics layer on the real ClickHouse: every saved query in
//! deploy/clickhouse/queries/ checked against an answer computed here, in
//! Rust, from the generated events themselves (not from ClickHouse), and
//! rollups that stay exact under re-delivery, `voc report` drawn in headless
//! Chromium and every Grafana panel's SQL.

mod dataset;

use chrono::{DateTime, NaiveDate};
use dataset::{as_of, Dataset};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use voc::analytics::{AsOf, SAVED_QUERIES};
use voc_core::{EnrichedEvent, Taxonomy};
use voc_sink::clickhouse::read::Table;

const DAY: i64 = 86_400;

/// What the tests know about one event, in the shape the queries use.
struct Ev {
    id: String,
    t: i64,
    day: NaiveDate,
    channel: String,
    customer: String,
    branch: String,
    product: String,
    app_version: String,
    /// (tag id, polarity, journey stage, department) from the taxonomy.
    tags: Vec<(String, String, String, String)>,
    sentiment: String,
    sentiment_score: f64,
    nps_score: Option<u8>,
    inferred: bool,
    segment: String,
    text: String,
    departments: Vec<String>,
}

fn beijing_day(t: i64) -> NaiveDate {
    DateTime::from_timestamp(t + 8 * 3600, 0)
        .unwrap()
        .date_naive()
}

fn project(events: &[EnrichedEvent], tax: &Taxonomy) -> Vec<Ev> {
    events
        .iter()
        .map(|e| {
            let t = e.event_time.timestamp();
            Ev {
                id: e.event_id.clone(),
                t,
                day: beijing_day(t),
                channel: e.channel.as_str().into(),
                customer: e.keys.customer.clone().unwrap_or_default(),
                branch: e.keys.branch.clone().unwrap_or_default(),
                product: e.keys.product.clone().unwrap_or_default(),
                app_version: e.keys.app_version.clone().unwrap_or_default(),
                tags: e
                    .tags
                    .iter()
                    .map(|tag| {
                        let def = tax.get(&tag.id).expect("tag in taxonomy");
                        (
                            tag.id.clone(),
                            tag.polarity.as_str().to_string(),
                            def.journey_stage.clone(),
                            def.department.clone(),
                        )
                    })
                    .collect(),
                sentiment: e.sentiment.label.as_str().into(),
                sentiment_score: e.sentiment.score as f64,
                nps_score: e.nps.score.map(|s| s.get()),
                inferred: e.nps.inferred,
                segment: e.nps.segment.as_str().into(),
                text: e.text.clone(),
                departments: e.departments.clone(),
            }
        })
        .collect()
}

/// An expected cell: text must match exactly, numbers within rounding.
#[derive(Debug, Clone, PartialEq)]
enum C {
    S(String),
    N(f64),
    Null,
}

fn s(v: impl Into<String>) -> C {
    C::S(v.into())
}
fn n(v: impl Into<f64>) -> C {
    C::N(v.into())
}
fn u(v: usize) -> C {
    C::N(v as f64)
}

/// 100 * a / b as ClickHouse computes it (integer product, float division).
fn pct(a: i64, b: usize) -> f64 {
    (100 * a) as f64 / b as f64
}

struct Ctx<'a> {
    ev: &'a [Ev],
    now: i64,
    tax: &'a Taxonomy,
    high_value: HashMap<String, bool>,
    segment_of: HashMap<String, &'static str>,
}

impl Ctx<'_> {
    fn within(&self, days: i64) -> impl Iterator<Item = &Ev> {
        let (now, from) = (self.now, self.now - days * DAY);
        self.ev.iter().filter(move |e| e.t > from && e.t <= now)
    }
    fn today(&self) -> NaiveDate {
        beijing_day(self.now)
    }
    fn tag_zh(&self, id: &str) -> String {
        self.tax.get(id).unwrap().tag_zh.clone()
    }
    fn department(&self, id: &str) -> String {
        self.tax.get(id).unwrap().department.clone()
    }
}

fn nps_of<'a>(evs: impl Iterator<Item = &'a Ev>) -> (usize, i64) {
    let (mut n, mut p, mut d) = (0usize, 0i64, 0i64);
    for e in evs {
        n += 1;
        match e.nps_score {
            Some(x) if x >= 9 => p += 1,
            Some(x) if x <= 6 => d += 1,
            _ => {}
        }
    }
    (n, p - d)
}

fn q01(c: &Ctx) -> Vec<Vec<C>> {
    let mut by: BTreeMap<&str, (Vec<&Ev>, Vec<&Ev>)> = BTreeMap::new();
    for e in c.within(14) {
        if e.channel == "branch" && e.nps_score.is_some() && !e.inferred {
            let slot = by.entry(&e.branch).or_default();
            if e.t > c.now - 7 * DAY {
                slot.0.push(e)
            } else {
                slot.1.push(e)
            }
        }
    }
    let mut rows: Vec<(f64, &str, Vec<C>)> = by
        .into_iter()
        .filter(|(_, (a, b))| !a.is_empty() && !b.is_empty())
        .map(|(branch, (a, b))| {
            let (na, da) = nps_of(a.into_iter());
            let (nb, db) = nps_of(b.into_iter());
            let (x, y) = (pct(da, na), pct(db, nb));
            (
                x - y,
                branch,
                vec![s(branch), u(na), n(x), u(nb), n(y), n(x - y)],
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    rows.into_iter().map(|r| r.2).collect()
}

fn version_code(v: &str) -> u32 {
    let mut p = v.split('.');
    let mut part = || p.next().and_then(|x| x.parse::<u32>().ok()).unwrap_or(0);
    let major = part();
    major * 1000 + part()
}

fn q02(c: &Ctx) -> Vec<Vec<C>> {
    let app: Vec<&Ev> = c
        .within(30)
        .filter(|e| e.channel == "app" && !e.app_version.is_empty())
        .collect();
    let after = |e: &Ev| version_code(&e.app_version) >= 8002;
    let fb = app.iter().filter(|e| !after(e)).count();
    let fa = app.iter().filter(|e| after(e)).count();
    let mut by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in &app {
        for (id, pol, _, _) in &e.tags {
            if pol == "pain" {
                let x = by.entry(id).or_default();
                if after(e) {
                    x.1 += 1
                } else {
                    x.0 += 1
                }
            }
        }
    }
    let (fb1, fa1) = (fb.max(1), fa.max(1));
    let mut rows: Vec<(f64, &str, Vec<C>)> = by
        .into_iter()
        .map(|(id, (b, a))| {
            let g = a as f64 / fa1 as f64 - b as f64 / fb1 as f64;
            (
                g,
                id,
                vec![
                    s(id),
                    s(c.tag_zh(id)),
                    s(c.department(id)),
                    u(b),
                    u(a),
                    n(pct(b as i64, fb1)),
                    n(pct(a as i64, fa1)),
                    n(100.0 * g),
                ],
            )
        })
        .collect();
    rows.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(y.1)));
    rows.into_iter().take(10).map(|r| r.2).collect()
}

fn q03(c: &Ctx) -> Vec<Vec<C>> {
    let mut by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in c.within(30).filter(|e| e.product == "信用卡") {
        let stages: BTreeSet<&str> = e.tags.iter().map(|t| t.2.as_str()).collect();
        for st in stages {
            let x = by.entry(st).or_default();
            x.1 += 1;
            x.0 += (e.segment == "detractor") as usize;
        }
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    rows.into_iter()
        .map(|(st, (d, f))| vec![s(st), u(d), u(f), n(pct(d as i64, f))])
        .collect()
}

fn q04(c: &Ctx) -> Vec<Vec<C>> {
    let today = c.today();
    let mut by: BTreeMap<NaiveDate, (usize, BTreeSet<&str>, usize)> = BTreeMap::new();
    for e in c.within(3) {
        if e.channel == "call_center"
            && e.tags.iter().any(|t| t.0 == "c08.t01")
            && e.day >= today.pred_opt().unwrap()
        {
            let x = by.entry(e.day).or_default();
            x.0 += 1;
            x.1.insert(&e.customer);
            x.2 += (e.segment == "detractor") as usize;
        }
    }
    by.into_iter()
        .map(|(d, (k, cust, det))| vec![s(d.to_string()), u(k), u(cust.len()), u(det)])
        .collect()
}

fn q05(c: &Ctx) -> Vec<Vec<C>> {
    let mut by: BTreeMap<&str, (usize, BTreeSet<&str>, usize, &str)> = BTreeMap::new();
    for e in c.within(7) {
        for (id, pol, stage, _) in &e.tags {
            if pol == "pain" {
                let x = by.entry(id).or_default();
                x.0 += 1;
                if !e.customer.is_empty() {
                    x.1.insert(&e.customer);
                }
                x.2 += (e.segment == "detractor") as usize;
                x.3 = stage;
            }
        }
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    rows.into_iter()
        .take(10)
        .map(|(id, (f, cust, det, stage))| {
            vec![
                s(id),
                s(c.tag_zh(id)),
                s(c.department(id)),
                s(stage),
                u(f),
                u(cust.len()),
                u(det),
            ]
        })
        .collect()
}

fn q06(c: &Ctx) -> Vec<Vec<C>> {
    let group = |e: &Ev| {
        c.high_value
            .get(&e.customer)
            .map(|&hv| if hv { "high_value" } else { "other" })
    };
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for e in c.within(30) {
        let Some(g) = group(e) else { continue };
        *totals.entry(g).or_default() += 1;
        for (id, pol, _, _) in &e.tags {
            if pol == "pain" || pol == "itch" {
                *by.entry((g, id, pol)).or_default() += 1;
            }
        }
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by(|a, b| {
        a.0 .0
            .cmp(b.0 .0)
            .then(b.1.cmp(&a.1))
            .then(a.0 .1.cmp(b.0 .1))
    });
    let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
    rows.into_iter()
        .filter(|((g, _, _), _)| {
            let k = taken.entry(g).or_default();
            *k += 1;
            *k <= 5
        })
        .map(|((g, id, pol), f)| {
            vec![
                s(g),
                s(id),
                s(c.tag_zh(id)),
                s(pol),
                u(f),
                n(pct(f as i64, totals[g])),
            ]
        })
        .collect()
}

fn q07(c: &Ctx) -> Vec<Vec<C>> {
    let evs: Vec<&Ev> = c.within(7).collect();
    let total = evs.len();
    let mut by: BTreeMap<&str, Vec<&Ev>> = BTreeMap::new();
    for e in &evs {
        by.entry(&e.channel).or_default().push(e);
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    rows.into_iter()
        .map(|(ch, es)| {
            let f = es.len();
            let neg = es.iter().filter(|e| e.sentiment == "negative").count();
            let (scored, net) = nps_of(es.iter().copied().filter(|e| e.nps_score.is_some()));
            vec![
                s(ch),
                u(f),
                n(pct(f as i64, total)),
                n(pct(neg as i64, f)),
                u(scored),
                n(pct(net, scored.max(1))),
            ]
        })
        .collect()
}

fn q08(c: &Ctx) -> Vec<Vec<C>> {
    let mut by: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for e in c.within(7) {
        for (id, pol, _, _) in &e.tags {
            *by.entry((pol, id)).or_default() += 1;
        }
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by(|a, b| {
        a.0 .0
            .cmp(b.0 .0)
            .then(b.1.cmp(&a.1))
            .then(a.0 .1.cmp(b.0 .1))
    });
    let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
    rows.into_iter()
        .filter(|((pol, _), _)| {
            let k = taken.entry(pol).or_default();
            *k += 1;
            *k <= 10
        })
        .map(|((pol, id), f)| vec![s(pol), s(id), s(c.tag_zh(id)), s(c.department(id)), u(f)])
        .collect()
}

fn q09(c: &Ctx) -> Vec<Vec<C>> {
    let mut d: Vec<&Ev> = c.within(7).filter(|e| e.segment == "detractor").collect();
    d.sort_by(|a, b| b.t.cmp(&a.t).then(a.id.cmp(&b.id)));
    d.into_iter()
        .take(50)
        .map(|e| {
            let bj = DateTime::from_timestamp(e.t + 8 * 3600, 0).unwrap();
            vec![
                s(bj.format("%Y-%m-%d %H:%M:%S").to_string()),
                s(&e.id),
                s(&e.channel),
                e.nps_score.map_or(C::Null, |x| u(x as usize)),
                u(e.inferred as usize),
                n(e.sentiment_score),
                s(e.tags
                    .iter()
                    .map(|t| t.0.as_str())
                    .collect::<Vec<_>>()
                    .join(",")),
                s(e.departments.join(",")),
                s(e.text.chars().take(120).collect::<String>()),
            ]
        })
        .collect()
}

fn q10(c: &Ctx) -> Vec<Vec<C>> {
    let first = c.today() - chrono::Duration::days(30);
    let mut by: BTreeMap<NaiveDate, Vec<&Ev>> = BTreeMap::new();
    for e in c.within(31).filter(|e| e.day > first) {
        by.entry(e.day).or_default().push(e);
    }
    let net = |es: &[&Ev]| {
        es.iter().filter(|e| e.segment == "promoter").count() as i64
            - es.iter().filter(|e| e.segment == "detractor").count() as i64
    };
    by.into_iter()
        .map(|(day, es)| {
            let scored: Vec<&Ev> = es.iter().copied().filter(|e| !e.inferred).collect();
            vec![
                s(day.to_string()),
                u(scored.len()),
                n(pct(net(&scored), scored.len().max(1))),
                u(es.len()),
                n(pct(net(&es), es.len())),
            ]
        })
        .collect()
}

fn q11(c: &Ctx) -> Vec<Vec<C>> {
    let today = c.today();
    let first = today - chrono::Duration::days(14);
    let mut by: BTreeMap<(NaiveDate, &str), Vec<&Ev>> = BTreeMap::new();
    // The rollup holds every stored event; the query bounds it by Beijing day only.
    for e in c.ev.iter().filter(|e| e.day > first && e.day <= today) {
        by.entry((e.day, &e.channel)).or_default().push(e);
    }
    by.into_iter()
        .map(|((day, ch), es)| {
            let f = es.len();
            let neg = es.iter().filter(|e| e.sentiment == "negative").count();
            let pos = es.iter().filter(|e| e.sentiment == "positive").count();
            vec![
                s(day.to_string()),
                s(ch),
                u(f),
                n(pct(neg as i64, f)),
                n(pct(pos as i64, f)),
            ]
        })
        .collect()
}

fn q12(c: &Ctx) -> Vec<Vec<C>> {
    let today = c.today();
    let first = today - chrono::Duration::days(30);
    let mut by: BTreeMap<(&str, &str), (usize, usize, usize)> = BTreeMap::new();
    // The rollup holds every stored event; the query bounds it by Beijing day only.
    for e in c.ev.iter().filter(|e| e.day > first && e.day <= today) {
        let mut stages: BTreeMap<&str, bool> = BTreeMap::new();
        for (_, pol, st, _) in &e.tags {
            *stages.entry(st).or_default() |= pol == "pain";
        }
        for (st, pain) in stages {
            let x = by.entry((st, &e.channel)).or_default();
            x.0 += 1;
            x.1 += pain as usize;
            x.2 += (e.segment == "detractor") as usize;
        }
    }
    by.into_iter()
        .map(|((st, ch), (f, p, d))| vec![s(st), s(ch), u(f), u(p), u(d)])
        .collect()
}

fn q13(c: &Ctx) -> Vec<Vec<C>> {
    let mut by: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for e in c.ev {
        let minute = e.t - e.t.rem_euclid(60);
        if minute > c.now - 3600 && minute <= c.now && e.tags.iter().any(|t| t.1 == "pain") {
            let x = by.entry(minute).or_default();
            x.0 += 1;
            x.1 += (e.segment == "detractor") as usize;
        }
    }
    by.into_iter()
        .map(|(m, (p, d))| {
            let bj = DateTime::from_timestamp(m + 8 * 3600, 0).unwrap();
            vec![s(bj.format("%Y-%m-%d %H:%M:%S").to_string()), u(p), u(d)]
        })
        .collect()
}

fn q14(c: &Ctx) -> Vec<Vec<C>> {
    let mut by: BTreeMap<&str, Vec<&Ev>> = BTreeMap::new();
    for e in c.within(30) {
        if let Some(seg) = c.segment_of.get(&e.customer) {
            by.entry(seg).or_default().push(e);
        }
    }
    by.into_iter()
        .map(|(seg, es)| {
            let f = es.len();
            let neg = es.iter().filter(|e| e.sentiment == "negative").count();
            let scored: Vec<&Ev> = es.iter().copied().filter(|e| !e.inferred).collect();
            let net = scored.iter().filter(|e| e.segment == "promoter").count() as i64
                - scored.iter().filter(|e| e.segment == "detractor").count() as i64;
            vec![
                s(seg),
                u(f),
                n(pct(neg as i64, f)),
                u(scored.len()),
                n(pct(net, scored.len().max(1))),
            ]
        })
        .collect()
}

type Expect = fn(&Ctx) -> Vec<Vec<C>>;

fn expectations() -> BTreeMap<&'static str, Expect> {
    BTreeMap::from([
        ("01_nps_by_branch_week_over_week", q01 as Expect),
        ("02_pain_points_after_app_release_8_2", q02),
        ("03_credit_card_detractors_by_journey_stage", q03),
        ("04_transfer_to_human_call_centre_today", q04),
        ("05_top_open_problems_by_department", q05),
        ("06_high_value_vs_other_customers_pain_points", q06),
        ("07_channel_mix", q07),
        ("08_tag_ranking_by_polarity", q08),
        ("09_detractor_list", q09),
        ("10_nps_trend_by_day", q10),
        ("11_sentiment_by_channel_and_day", q11),
        ("12_journey_stage_heatmap", q12),
        ("13_pain_feedback_per_minute_last_hour", q13),
        ("14_nps_by_customer_segment", q14),
    ])
}

/// Compare a result with the expectation; numbers may differ by rounding only.
fn check(name: &str, got: &Table, want: &[Vec<C>]) -> Result<(), String> {
    if got.rows.len() != want.len() {
        return Err(format!(
            "{name}: {} rows, expected {}\n got first: {:?}\nwant first: {:?}",
            got.rows.len(),
            want.len(),
            got.rows.first(),
            want.first()
        ));
    }
    for (i, (g, w)) in got.rows.iter().zip(want).enumerate() {
        if g.len() != w.len() {
            return Err(format!(
                "{name} row {i}: {} columns, expected {}",
                g.len(),
                w.len()
            ));
        }
        for (j, (gv, wv)) in g.iter().zip(w).enumerate() {
            let ok = match wv {
                C::S(x) => &Table::text(gv) == x,
                C::Null => gv.is_null(),
                C::N(x) => Table::number(gv).is_some_and(|v| (v - x).abs() <= 0.0501),
            };
            if !ok {
                return Err(format!(
                    "{name} row {i} column {} ({j}): got {gv}, expected {wv:?}\n got row: {g:?}\nwant row: {w:?}",
                    got.columns.get(j).map(String::as_str).unwrap_or("?")
                ));
            }
        }
    }
    Ok(())
}

fn context<'a>(ev: &'a [Ev], tax: &'a Taxonomy) -> Ctx<'a> {
    let customers = voc_gen::customers();
    Ctx {
        ev,
        now: as_of().timestamp(),
        tax,
        high_value: customers
            .iter()
            .map(|c| (c.customer_key.clone(), c.high_value))
            .collect(),
        segment_of: customers
            .iter()
            .map(|c| (c.customer_key.clone(), c.segment))
            .collect(),
    }
}

async fn run_saved_queries(d: &Dataset, ctx: &Ctx<'_>) -> Vec<String> {
    let expect = expectations();
    let mut failures = Vec::new();
    for q in SAVED_QUERIES {
        let f = expect
            .get(q.name)
            .unwrap_or_else(|| panic!("{}: no expectation written for this query", q.name));
        let want = f(ctx);
        assert!(
            !want.is_empty(),
            "{}: the data set gives it nothing to answer; make the data richer",
            q.name
        );
        let got = d
            .sink
            .query_table(&q.render(&d.database, AsOf::At(as_of())))
            .await
            .unwrap_or_else(|e| panic!("{} failed on ClickHouse: {e}", q.name));
        match check(q.name, &got, &want) {
            Ok(()) => eprintln!("{}: {} rows as expected", q.name, want.len()),
            Err(e) => failures.push(e),
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_queries_answer_what_the_events_say_even_after_redelivery() {
    let d = Dataset::load("analytics", 12_000, 6_000, 11).await;
    let tax = Taxonomy::bundled();
    let ev = project(&d.unique, &tax);
    assert!(ev.len() > 17_000, "{} unique events", ev.len());
    assert!(
        d.inserted.len() > d.unique.len(),
        "the generator's own re-sends are part of the data"
    );
    let ctx = context(&ev, &tax);

    let failures = run_saved_queries(&d, &ctx).await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // Re-deliver the first 3,000 events (a crash between insert and commit).
    let rows_before = d.scalar("SELECT count() FROM {db}.feedback_events").await;
    d.sink.insert(&d.inserted[..3000]).await.unwrap();
    let rows_after = d.scalar("SELECT count() FROM {db}.feedback_events").await;
    assert!(
        rows_after > rows_before,
        "the duplicate rows really were inserted"
    );
    let failures = run_saved_queries(&d, &ctx).await;
    assert!(
        failures.is_empty(),
        "after re-delivery:\n{}",
        failures.join("\n\n")
    );
    d.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_count_each_event_once_when_it_is_delivered_twice() {
    let d = Dataset::load("rollups", 3000, 0, 5).await;
    let tax = Taxonomy::bundled();
    let ev = project(&d.unique, &tax);
    let events = ev.len() as u64;
    let tag_hits: u64 = ev.iter().map(|e| e.tags.len() as u64).sum();
    let per_group_tag_sum = "SELECT sum(c) FROM (SELECT uniqExactMerge(events) AS c FROM {db}.tag_rollup_day \
        GROUP BY day, tag_id, channel, branch_id, product, journey_stage, polarity, department, sentiment_label, nps_segment)";
    let totals = [
        ("SELECT uniqExactMerge(events) FROM {db}.feedback_rollup_day", events),
        ("SELECT uniqExactMerge(events) FROM {db}.feedback_rollup_minute", events),
        (per_group_tag_sum, tag_hits),
        (
            "SELECT sum(c) FROM (SELECT uniqExactMerge(events) AS c FROM {db}.tag_rollup_minute GROUP BY minute, tag_id)",
            tag_hits,
        ),
        ("SELECT uniqExact(event_id, tag_id) FROM {db}.feedback_event_tags", tag_hits),
        ("SELECT count() FROM {db}.feedback", events),
    ];
    for round in ["first delivery", "re-delivery", "after OPTIMIZE FINAL"] {
        match round {
            "re-delivery" => {
                d.sink.insert(&d.inserted).await.unwrap();
                let raw = d.scalar("SELECT count() FROM {db}.feedback_events").await;
                assert!(
                    raw > events,
                    "the duplicate rows really were inserted ({raw})"
                );
            }
            "after OPTIMIZE FINAL" => {
                for t in [
                    "feedback_events",
                    "feedback_event_tags",
                    "feedback_rollup_day",
                    "tag_rollup_day",
                ] {
                    d.sink
                        .execute(&format!("OPTIMIZE TABLE {}.{t} FINAL", d.database))
                        .await
                        .unwrap();
                }
            }
            _ => {}
        }
        for (sql, want) in totals {
            assert_eq!(d.scalar(sql).await, want, "{round}: {sql}");
        }
    }
    // Per group, not just in total: detractors per day and channel.
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for e in ev.iter().filter(|e| e.segment == "detractor") {
        *want
            .entry((e.day.to_string(), e.channel.clone()))
            .or_default() += 1;
    }
    let got = d
        .sink
        .query_table(&format!(
            "SELECT toString(day), channel, uniqExactMerge(events) FROM {}.feedback_rollup_day \
             WHERE nps_segment = 'detractor' GROUP BY day, channel ORDER BY day, channel",
            d.database
        ))
        .await
        .unwrap();
    let got: BTreeMap<(String, String), u64> = got
        .rows
        .iter()
        .map(|r| {
            (
                (Table::text(&r[0]), Table::text(&r[1])),
                Table::number(&r[2]).unwrap() as u64,
            )
        })
        .collect();
    assert_eq!(got, want);
    d.drop().await;
}

/// Chromium from Debian (deploy/install.sh installs it when missing).
fn chromium() -> String {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return c.to_string();
        }
    }
    panic!("no headless Chromium on PATH: run deploy/install.sh (it installs Debian's chromium)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_draws_every_chart_in_headless_chromium() {
    let d = Dataset::load("report", 3000, 1000, 3).await;
    let dir = d.config.parent().unwrap().to_path_buf();
    let out = dir.join("report.html");
    dataset::voc(
        &[
            "report",
            "--as-of",
            "2026-11-25 12:00:00",
            "--out",
            out.to_str().unwrap(),
        ],
        &d.config,
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.len() > 1_000_000, "ECharts is embedded");
    assert!(
        !html.contains("<script src"),
        "self-contained: no external script"
    );
    assert!(
        !html.contains("<link "),
        "self-contained: no external stylesheet"
    );

    // What the page must show, from the events themselves.
    let tax = Taxonomy::bundled();
    let ev = project(&d.unique, &tax);
    let ctx = context(&ev, &tax);
    let detractors = q09(&ctx);
    assert!(!detractors.is_empty());
    let C::S(first_text) = &detractors[0][8] else {
        panic!()
    };
    assert!(
        html.contains(&voc::report::escape(first_text)),
        "the newest detractor's masked text is listed"
    );

    let profile = dir.join("chromium-profile");
    let dom = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1400,2400",
            "--virtual-time-budget=15000",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", out.display()),
        ])
        .output()
        .expect("running chromium");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success() && !dom_text.is_empty(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    for id in voc::report::CHARTS {
        let start = dom_text
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} missing from the rendered page"));
        let tag_end = start + dom_text[start..].find('>').unwrap();
        assert!(
            dom_text[start..tag_end].contains("data-drawn=\"true\""),
            "chart {id} never fired ECharts' finished event: {}",
            &dom_text[start..tag_end]
        );
        let body_end = dom_text[tag_end..].find("</canvas>").map(|i| tag_end + i);
        let next_card = dom_text[tag_end..]
            .find("class=\"card")
            .map(|i| tag_end + i);
        assert!(
            matches!((body_end, next_card), (Some(c), Some(n)) if c < n)
                || (body_end.is_some() && next_card.is_none()),
            "chart {id} has no canvas"
        );
    }
    assert!(
        dom_text.contains("data-charts-ready=\"true\""),
        "not every chart finished drawing"
    );
    d.drop().await;
    eprintln!("report: {}", out.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grafana_panel_runs_on_clickhouse() {
    let d = Dataset::load("grafana", 2000, 500, 9).await;
    let to = as_of();
    let from = to - chrono::Duration::days(7);
    let panels = voc::analytics::grafana_panels(voc::analytics::GRAFANA_DASHBOARD).unwrap();
    let mut rows_seen = 0;
    for (title, sql) in &panels {
        let sql = voc::analytics::grafana_sql(sql, &d.database, from, to);
        let t = d
            .sink
            .query_table(&sql)
            .await
            .unwrap_or_else(|e| panic!("panel {title:?} fails on ClickHouse: {e}\n{sql}"));
        rows_seen += !t.rows.is_empty() as usize;
    }
    assert!(
        rows_seen == panels.len(),
        "{} of {} panels returned rows for a week of data",
        rows_seen,
        panels.len()
    );
    // One panel's numbers, checked: the channel mix equals the events' own count.
    let tax = Taxonomy::bundled();
    let ev = project(&d.unique, &tax);
    let (f, t) = (from.timestamp(), to.timestamp());
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for e in ev.iter().filter(|e| e.t >= f && e.t <= t) {
        *want.entry(e.channel.clone()).or_default() += 1.0;
    }
    let (_, mix) = panels.iter().find(|(t, _)| t == "Channel mix").unwrap();
    let got = d
        .sink
        .query_table(&voc::analytics::grafana_sql(mix, &d.database, from, to))
        .await
        .unwrap();
    let got: BTreeMap<String, f64> = got
        .rows
        .iter()
        .map(|r| (Table::text(&r[0]), Table::number(&r[1]).unwrap()))
        .collect();
    assert_eq!(got, want);
    d.drop().await;
}
