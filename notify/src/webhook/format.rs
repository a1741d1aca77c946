//! Request bodies per webhook kind. Chat robots get a short Chinese message a
//! duty officer can act on (title, departments, SLA, count, one excerpt, alert
//! id); generic receivers get the full alert JSON (docs/alert.schema.json).

use super::{sign, WebhookConfig, WebhookKind};
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

/// The message lines chat robots show.
pub fn lines(a: &Alert) -> Vec<String> {
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
                a.departments.join("、")
            }
        ),
        format!("首次响应截止：{}（北京时间）", beijing(a.sla_due)),
    ];
    if let Some(e) = a.events.first() {
        if !e.text_excerpt.is_empty() {
            l.push(format!("客户原话（已脱敏）：{}", e.text_excerpt));
        }
    }
    l.push(format!("预警编号：{}", a.alert_id));
    l
}

pub fn request(hook: &WebhookConfig, a: &Alert, now: DateTime<Utc>) -> Request {
    let title = &a.work_order_title;
    let lines = lines(a);
    match hook.kind {
        WebhookKind::Generic => {
            let body = serde_json::to_vec(a).unwrap_or_default();
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
                url: hook.url.clone(),
                headers,
                body,
            }
        }
        WebhookKind::Wecom => json_request(
            hook.url.clone(),
            json!({
                "msgtype": "markdown",
                "markdown": {"content": format!("### {title}\n> {}", lines.join("\n> "))}
            }),
        ),
        WebhookKind::Dingtalk => {
            let mut url = hook.url.clone();
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
            let mut body = json!({
                "msg_type": "text",
                "content": {"text": format!("{title}\n{}", lines.join("\n"))}
            });
            if !hook.secret.is_empty() {
                let ts = now.timestamp();
                body["timestamp"] = Value::String(ts.to_string());
                body["sign"] = Value::String(sign::feishu(hook.secret.expose(), ts));
            }
            json_request(hook.url.clone(), body)
        }
    }
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
            url: "http://127.0.0.1:1/hook?key=k".into(),
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
