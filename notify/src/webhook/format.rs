//! Request bodies per webhook kind. Chat robots get a short Chinese message a
//! duty officer can act on (title, departments, SLA, count, one excerpt, alert
//! id); generic receivers get the full alert JSON (docs/alert.schema.json).
//! Every value that came from outside (customer text, names, series values)
//! goes through the target's [`escape`] function first.

use super::{escape, sign, WebhookConfig, WebhookKind};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{json, Value};
use voc_alert::{Alert, AlertKind};

/// One HTTP request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn beijing(t: DateTime<Utc>) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    t.with_timezone(&cst).format("%Y-%m-%d %H:%M").to_string()
}

fn kind_zh(k: AlertKind) -> &'static str {
    match k {
        AlertKind::Detractor => "贬损客户",
        AlertKind::RepeatComplainer => "重复投诉客户",
        AlertKind::Spike => "问题激增",
    }
}

/// The message lines chat robots show, raw values escaped with `esc`.
pub fn lines(a: &Alert, esc: fn(&str) -> String) -> Vec<String> {
    let mut l = vec![
        format!(
            "类型：{}｜级别：{}｜次数：{}{}",
            kind_zh(a.kind),
            a.severity.as_str(),
            a.occurrences,
            if a.revision > 0 {
                "（抑制窗口汇总）"
            } else {
                ""
            }
        ),
        format!(
            "责任部门：{}",
            if a.departments.is_empty() {
                "待分派".to_string()
            } else {
                esc(&a.departments.join("、"))
            }
        ),
        format!("首次响应截止：{}（北京时间）", beijing(a.sla_due)),
    ];
    if let Some(e) = a.events.first() {
        if !e.text_excerpt.is_empty() {
            l.push(format!("客户原话（已脱敏）：{}", esc(&e.text_excerpt)));
        }
    }
    l.push(format!("预警编号：{}", esc(&a.alert_id)));
    l
}

/// The alert as generic receivers get it: its text fields (title, excerpts,
/// names, tier, spike series value) through [`escape::generic`];
/// identifiers (`alert_id`, `dedup_key`, `customer_key`, event ids) as they
/// are, so receivers can match them.
pub fn generic_alert(a: &Alert) -> Alert {
    let esc = escape::generic;
    let mut g = a.clone();
    g.work_order_title = esc(&g.work_order_title);
    g.customer_tier = g.customer_tier.as_deref().map(esc);
    for e in &mut g.events {
        e.text_excerpt = esc(&e.text_excerpt);
    }
    for t in &mut g.tags {
        t.name_zh = esc(&t.name_zh);
    }
    for d in &mut g.departments {
        *d = esc(d);
    }
    if let Some(s) = &mut g.spike {
        s.value = esc(&s.value);
    }
    g
}

pub fn request(hook: &WebhookConfig, a: &Alert, now: DateTime<Utc>) -> Request {
    match hook.kind {
        WebhookKind::Generic => {
            let body = html_safe_json(&generic_alert(a));
            let mut headers = vec![("content-type".into(), "application/json".into())];
            if !hook.secret.is_empty() {
                let ts = now.timestamp();
                headers.push(("x-voc-timestamp".into(), ts.to_string()));
                headers.push((
                    "x-voc-signature".into(),
                    sign::generic(hook.secret.expose(), ts, &body),
                ));
            }
            Request {
                url: hook.url.expose().to_string(),
                headers,
                body,
            }
        }
        WebhookKind::Wecom => {
            let (title, lines) = (escape::wecom(&a.work_order_title), lines(a, escape::wecom));
            json_request(
                hook.url.expose().to_string(),
                json!({
                    "msgtype": "markdown",
                    "markdown": {"content": format!("### {title}\n> {}", lines.join("\n> "))}
                }),
            )
        }
        WebhookKind::Dingtalk => {
            let (title, lines) = (
                escape::dingtalk(&a.work_order_title),
                lines(a, escape::dingtalk),
            );
            let mut url = hook.url.expose().to_string();
            if !hook.secret.is_empty() {
                let ts = now.timestamp_millis();
                let sep = if url.contains('?') { '&' } else { '?' };
                url = format!(
                    "{url}{sep}timestamp={ts}&sign={}",
                    sign::dingtalk(hook.secret.expose(), ts)
                );
            }
            json_request(
                url,
                json!({
                    "msgtype": "markdown",
                    "markdown": {"title": title, "text": format!("### {title}\n\n- {}", lines.join("\n- "))}
                }),
            )
        }
        WebhookKind::Feishu => {
            let (title, lines) = (
                escape::feishu(&a.work_order_title),
                lines(a, escape::feishu),
            );
            let mut body = json!({
                "msg_type": "text",
                "content": {"text": format!("{title}\n{}", lines.join("\n"))}
            });
            if !hook.secret.is_empty() {
                let ts = now.timestamp();
                body["timestamp"] = Value::String(ts.to_string());
                body["sign"] = Value::String(sign::feishu(hook.secret.expose(), ts));
            }
            json_request(hook.url.expose().to_string(), body)
        }
    }
}

/// JSON with `<`, `>` and `&` written as `\u003c`, `\u003e`, `\u0026`: the
/// same values once parsed, and no markup if a receiver pastes the raw body
/// into a page. Outside strings JSON has none of these bytes.
fn html_safe_json(a: &Alert) -> Vec<u8> {
    let json = serde_json::to_vec(a).unwrap_or_default();
    let mut out = Vec::with_capacity(json.len());
    for b in json {
        match b {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            _ => out.push(b),
        }
    }
    out
}

fn json_request(url: String, body: Value) -> Request {
    Request {
        url,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

/// Did the service accept it? Robots answer HTTP 200 with an error code in
/// the body (WeCom/DingTalk `errcode`, Feishu `code`/`StatusCode`): 0 is success.
pub fn accepted(kind: WebhookKind, status: u16, body: &str) -> Result<(), String> {
    if !(200..300).contains(&status) {
        return Err(format!(
            "HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    if kind == WebhookKind::Generic {
        return Ok(());
    }
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = ["errcode", "code", "StatusCode"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_i64));
    match code {
        Some(0) | None => Ok(()),
        Some(c) => Err(format!(
            "robot error {c}: {}",
            body.chars().take(200).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::sync::Arc;
    use voc_alert::history::memory::MemoryHistory;
    use voc_alert::testing::event;
    use voc_alert::{AlertConfig, AlertEngine};
    use voc_core::{Channel, Taxonomy};

    async fn alert() -> Alert {
        let mut a = AlertEngine::new(
            AlertConfig::default(),
            Arc::new(Taxonomy::bundled()),
            voc_core::pseudonym::PseudonymKey::demo(),
            MemoryHistory::default(),
        );
        let e = event("e1", "C1", Channel::App, &["c03.t02"], Some(2), -0.8);
        a.evaluate(&[e], Utc::now()).await.unwrap().alerts.remove(0)
    }

    fn hook(kind: WebhookKind, secret: &str) -> WebhookConfig {
        WebhookConfig {
            name: "t".into(),
            kind,
            url: super::super::WebhookUrl::parse("http://127.0.0.1:1/hook?key=k").unwrap(),
            allow_http: false,
            secret: secret.into(),
            min_severity: voc_alert::Severity::Medium,
            kinds: vec![],
            departments: vec![],
        }
    }

    #[tokio::test]
    async fn robot_payloads_follow_each_services_format() {
        let a = alert().await;
        let now = Utc.timestamp_opt(1599360473, 0).unwrap();
        let w: Value =
            serde_json::from_slice(&request(&hook(WebhookKind::Wecom, ""), &a, now).body).unwrap();
        assert_eq!(w["msgtype"], "markdown");
        assert!(w["markdown"]["content"]
            .as_str()
            .unwrap()
            .contains("转账或支付失败"));

        let d = request(&hook(WebhookKind::Dingtalk, "SECx"), &a, now);
        assert!(d
            .url
            .starts_with("http://127.0.0.1:1/hook?key=k&timestamp=1599360473000&sign="));
        assert!(d.url.ends_with(&sign::dingtalk("SECx", 1599360473000)));
        let dv: Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(dv["msgtype"], "markdown");
        assert_eq!(dv["markdown"]["title"], a.work_order_title.as_str());

        let f: Value = serde_json::from_slice(
            &request(&hook(WebhookKind::Feishu, "demo-secret"), &a, now).body,
        )
        .unwrap();
        assert_eq!(f["msg_type"], "text");
        assert_eq!(f["timestamp"], "1599360473");
        assert_eq!(f["sign"], "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s=");

        let g = request(&hook(WebhookKind::Generic, "k"), &a, now);
        let back: Alert = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(back, a);
        assert!(g
            .headers
            .iter()
            .any(|(k, v)| k == "x-voc-signature" && v.starts_with("sha256=")));
    }

    /// Text a duty officer sees, per target: the fields that carry raw values.
    fn shown(kind: WebhookKind, a: &Alert) -> Vec<String> {
        let v: Value =
            serde_json::from_slice(&request(&hook(kind, ""), a, Utc::now()).body).unwrap();
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        match kind {
            WebhookKind::Wecom => vec![s(&v["markdown"]["content"])],
            WebhookKind::Dingtalk => vec![s(&v["markdown"]["title"]), s(&v["markdown"]["text"])],
            WebhookKind::Feishu => vec![s(&v["content"]["text"])],
            WebhookKind::Generic => {
                let mut out = vec![s(&v["work_order_title"]), s(&v["customer_tier"])];
                out.push(s(&v["spike"]["value"]));
                out.extend(
                    v["events"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| s(&e["text_excerpt"])),
                );
                out.extend(v["departments"].as_array().unwrap().iter().map(s));
                out
            }
        }
    }

    #[tokio::test]
    async fn raw_values_cannot_link_mention_or_restyle_a_message() {
        let mut a = alert().await;
        a.events[0].text_excerpt =
            "退款点[这里](https://evil.com/x) 或 http://1.2.3.4/a <a href='//x.cn'>链接</a> @所有人 <@zhangsan> <at user_id=\"all\">所有人</at>\n# 假标题\n<font color=\"warning\">伪造</font> ```".into();
        a.work_order_title = "【一般】网点 <@all> [点我](http://evil.com) 激增".into();
        a.departments = vec!["运营管理部@13812345678".into()];
        a.customer_tier = Some("vip<script>".into());
        a.dedup_key = "spike:branch:<b>www.evil.com</b>:c03.t02".into();
        a.spike = Some(voc_alert::model::SpikeInfo {
            dimension: "branch".into(),
            value: "www.evil.com".into(),
            tag_id: "c03.t02".into(),
            window_minutes: 10,
            count: 9,
            expected: 1.0,
            p_value: 1e-9,
            threshold: 1e-6,
            series_tested: 3,
        });
        for kind in [
            WebhookKind::Wecom,
            WebhookKind::Dingtalk,
            WebhookKind::Feishu,
            WebhookKind::Generic,
        ] {
            for text in shown(kind, &a) {
                let low = text.to_lowercase();
                for bad in ["://", ".com", ".cn", "@", "<", "](", "```", "\n#", "\n<"] {
                    assert!(!low.contains(bad), "{kind:?}: {bad:?} in {text:?}");
                }
            }
        }
        // Identifiers reach generic receivers unchanged; the raw body has no markup.
        let g = request(&hook(WebhookKind::Generic, ""), &a, Utc::now()).body;
        let back: Alert = serde_json::from_slice(&g).unwrap();
        assert_eq!(back.dedup_key, a.dedup_key);
        assert!(!g.iter().any(|b| matches!(b, b'<' | b'>' | b'&')));
        // The structure of a markdown message is still ours: one heading, quoted lines.
        let w = &shown(WebhookKind::Wecom, &a)[0];
        assert_eq!(w.matches("###").count(), 1, "{w}");
        assert!(
            w.starts_with("### 【一般】网点 ＜＠all＞ ［点我］（http：//evil［.］com） 激增\n> "),
            "{w}"
        );
    }

    #[test]
    fn robot_error_codes_are_failures() {
        assert!(accepted(WebhookKind::Wecom, 200, r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert!(accepted(
            WebhookKind::Wecom,
            200,
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
        )
        .is_err());
        assert!(accepted(
            WebhookKind::Feishu,
            200,
            r#"{"code":19021,"msg":"sign match fail"}"#
        )
        .is_err());
        assert!(accepted(WebhookKind::Generic, 503, "").is_err());
    }
}
