//! [`WebhookUrl`]: a webhook address, which is also a credential (WeCom
//! `key=`, DingTalk `access_token=`, the Feishu hook id in the path). Only
//! [`WebhookUrl::expose`] gives the real URL, to the HTTP client; `Debug`,
//! `Display` and `Serialize` (what logs, errors, `alert_deliveries` and
//! `voc config` show) give [`WebhookUrl::redacted`]: scheme, host, port and
//! the leading word-like path segments, every other part replaced by `***`:
//!
//! ```text
//! https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***
//! https://oapi.dingtalk.com/robot/send?access_token=***
//! https://open.feishu.cn/open-apis/bot/v2/hook/***
//! ```
//!
//! Like a [`Secret`], the URL can be written inline, as `{ env = "NAME" }` or
//! as `{ file = "/path" }`.

use reqwest::Url;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;
use voc_core::secret::{Secret, REDACTED};

#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// The parser's reason; never the URL itself.
    #[error("not a valid URL: {0}")]
    Invalid(String),
    #[error("{url}: only https (or http) webhook URLs are supported")]
    Scheme { url: String },
    #[error("{url}: plain http is refused outside loopback (set allow_http = true for a trusted internal receiver)")]
    PlainHttp { url: String },
}

/// Path segments shown as they are: short names of letters, `-`, `_`, `.`
/// (`cgi-bin`, `webhook`, `open-apis`) or a version (`v2`). A token or an id
/// has digits or is long, and ends the shown prefix.
fn word_like(seg: &str) -> bool {
    let version = seg.len() <= 4
        && seg.starts_with('v')
        && seg.len() > 1
        && seg[1..].bytes().all(|b| b.is_ascii_digit());
    version
        || (!seg.is_empty()
            && seg.len() <= 16
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || matches!(b, b'-' | b'_' | b'.')))
}

/// Parts shorter than this are not searched for in error text (a one-letter
/// test key would blank every such letter); real tokens are far longer.
const MIN_SCRUB_LEN: usize = 6;

impl WebhookUrl {
    pub fn parse(s: &str) -> Result<WebhookUrl, UrlError> {
        let url = Url::parse(s.trim()).map_err(|e| UrlError::Invalid(e.to_string()))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(UrlError::Scheme {
                url: WebhookUrl(url).redacted(),
            });
        }
        Ok(WebhookUrl(url))
    }

    /// The real URL, tokens included: for the request only, never for a
    /// log line or an error.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// Is the host this machine (127.0.0.0/8, ::1, localhost)?
    pub fn is_loopback(&self) -> bool {
        let host = self.0.host_str().unwrap_or_default();
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// https, or http to loopback, or http anywhere with `allow_http`.
    pub fn check_transport(&self, allow_http: bool) -> Result<(), UrlError> {
        if self.0.scheme() == "http" && !allow_http && !self.is_loopback() {
            return Err(UrlError::PlainHttp {
                url: self.redacted(),
            });
        }
        Ok(())
    }

    /// What may be shown: scheme, host, port, the word-like path prefix,
    /// query names; the rest `***`.
    pub fn redacted(&self) -> String {
        let u = &self.0;
        let mut out = format!("{}://", u.scheme());
        if !u.username().is_empty() || u.password().is_some() {
            out.push_str(REDACTED);
            out.push('@');
        }
        out.push_str(u.host_str().unwrap_or_default());
        if let Some(p) = u.port() {
            out.push_str(&format!(":{p}"));
        }
        for seg in u.path_segments().into_iter().flatten() {
            out.push('/');
            if word_like(seg) {
                out.push_str(seg);
            } else {
                out.push_str(REDACTED);
                break;
            }
        }
        if let Some(q) = u.query() {
            let pairs: Vec<String> = q
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if word_like(k) => format!("{k}={REDACTED}"),
                    _ => REDACTED.to_string(),
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        if u.fragment().is_some() {
            out.push('#');
            out.push_str(REDACTED);
        }
        out
    }

    /// The parts [`Self::redacted`] hides, as written and percent-decoded.
    fn hidden_parts(&self) -> Vec<String> {
        let u = &self.0;
        let mut parts = vec![u.username().to_string()];
        parts.extend(u.password().map(str::to_string));
        let segs: Vec<&str> = u.path_segments().into_iter().flatten().collect();
        if let Some(i) = segs.iter().position(|s| !word_like(s)) {
            parts.extend(segs[i..].iter().map(|s| s.to_string()));
        }
        for pair in u.query().unwrap_or_default().split('&') {
            match pair.split_once('=') {
                Some((k, v)) if word_like(k) => parts.push(v.to_string()),
                _ => parts.push(pair.to_string()),
            }
        }
        parts.extend(u.fragment().map(str::to_string));
        let decoded: Vec<String> = parts
            .iter()
            .map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        parts.extend(decoded);
        parts.retain(|p| p.len() >= MIN_SCRUB_LEN);
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        parts.dedup();
        parts
    }

    /// `text` (an error, a response excerpt) with the full URL replaced by
    /// its redacted form and any hidden part of it replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(self.0.as_str(), &self.redacted());
        for p in self.hidden_parts() {
            out = out.replace(&p, REDACTED);
        }
        out
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.redacted())
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Serialized redacted: printing a configuration never shows a token; such
/// a printout read back points at `***`, which no robot accepts.
impl Serialize for WebhookUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Secret::deserialize(d)?;
        WebhookUrl::parse(raw.expose()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> WebhookUrl {
        WebhookUrl::parse(s).unwrap()
    }

    #[test]
    fn the_robots_urls_show_no_token() {
        let cases = [
            (
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***",
            ),
            (
                "https://oapi.dingtalk.com/robot/send?access_token=a1b2c3d4e5f6a7b8c9d0",
                "https://oapi.dingtalk.com/robot/send?access_token=***",
            ),
            (
                "https://open.feishu.cn/open-apis/bot/v2/hook/2c3b4a5e-1111-2222-3333-444455556666",
                "https://open.feishu.cn/open-apis/bot/v2/hook/***",
            ),
            (
                "https://user:pa55word@cases.bank.internal:8443/api/T0123/B0456/xyzXYZ?sig=abcdef123#frag",
                "https://***@cases.bank.internal:8443/api/***?sig=***#***",
            ),
            (
                "http://127.0.0.1:8080/hook?tokenvalue123456",
                "http://127.0.0.1:8080/hook?***",
            ),
        ];
        for (raw, shown) in cases {
            let u = url(raw);
            assert_eq!(u.redacted(), shown);
            assert_eq!(u.to_string(), shown);
            assert_eq!(format!("{u:?}"), format!("WebhookUrl({shown})"));
            assert_eq!(u.expose(), Url::parse(raw).unwrap().as_str());
        }
    }

    #[test]
    fn scrub_hides_the_url_and_its_tokens_anywhere_in_text() {
        let u = url("https://oapi.dingtalk.com/robot/send?access_token=a1b2c3d4e5f6%2Bx");
        let text = format!(
            "error sending request for url ({}): echo a1b2c3d4e5f6+x and a1b2c3d4e5f6%2Bx",
            u.expose()
        );
        let s = u.scrub(&text);
        assert!(!s.contains("a1b2c3d4e5f6"), "{s}");
        assert!(
            s.contains("https://oapi.dingtalk.com/robot/send?access_token=***"),
            "{s}"
        );
    }

    #[test]
    fn plain_http_only_to_loopback_or_when_allowed() {
        assert!(url("https://example.com/x").check_transport(false).is_ok());
        for local in [
            "http://127.0.0.1:1/x",
            "http://localhost/x",
            "http://[::1]:8/x",
        ] {
            assert!(url(local).check_transport(false).is_ok(), "{local}");
        }
        let remote = url("http://10.1.2.3/hook?key=secret-token-1");
        let e = remote.check_transport(false).unwrap_err();
        assert!(e.to_string().contains("allow_http"), "{e}");
        assert!(!e.to_string().contains("secret-token-1"), "{e}");
        assert!(remote.check_transport(true).is_ok());
        let e = WebhookUrl::parse("ftp://example.com/hook?key=secret-token-1").unwrap_err();
        assert!(!e.to_string().contains("secret-token-1"), "{e}");
        assert!(WebhookUrl::parse("not a url").is_err());
    }

    #[test]
    fn serializes_redacted_and_reads_every_secret_form() {
        #[derive(Serialize, Deserialize)]
        struct H {
            url: WebhookUrl,
        }
        let h: H = serde_json::from_str(
            r#"{"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-123456789"}"#,
        )
        .unwrap();
        let shown = serde_json::to_string(&h).unwrap();
        assert!(!shown.contains("k-123456789"), "{shown}");
        assert!(h.url.expose().ends_with("key=k-123456789"));
        std::env::set_var(
            "VOC_TEST_WEBHOOK_URL",
            "https://example.com/hook/abc123def456",
        );
        let h: H = serde_json::from_str(r#"{"url": {"env": "VOC_TEST_WEBHOOK_URL"}}"#).unwrap();
        assert_eq!(h.url.expose(), "https://example.com/hook/abc123def456");
    }
}
