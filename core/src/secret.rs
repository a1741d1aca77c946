//! [`Secret`]: a password, key or token from the configuration that is
//! never shown. `Debug`, `Display` and `Serialize` (what `voc config`
//! prints) give `***`; only [`Secret::expose`] reads it, at the one place
//! that hands it to a client.
//!
//! In TOML a secret is written three ways:
//!
//! ```toml
//! password = "inline"                         # fine for local demos only
//! password = { env = "CLICKHOUSE_PASSWORD" }  # read from that variable at load
//! password = { file = "/run/secrets/ch" }     # read from that file at load (trailing newline dropped)
//! ```
//!
//! The `VOC_<SECTION>__<KEY>` environment overrides set the inline form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What `Debug`, `Display` and `Serialize` show instead of a set secret.
pub const REDACTED: &str = "***";

/// Words that make a setting of a free-form map (such as `kafka.extra`) a
/// secret by its name, case-insensitively.
const SECRET_WORDS: &[&str] = &["password", "secret", "key", "token", "credential"];

/// librdkafka properties it treats as sensitive whose names have none of
/// [`SECRET_WORDS`].
const SECRET_NAMES: &[&str] = &["sasl.username", "sasl.oauthbearer.config", "ssl.ca.pem"];

/// Whether the value of a setting called `name` is shown as `***`: names
/// containing password, secret, key, token or credential, and the other
/// properties librdkafka redacts itself.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| name.contains(w)) || SECRET_NAMES.contains(&name.as_str())
}

/// A secret value; empty means "not set".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret from environment variable {name}: not set")]
    EnvMissing { name: String },
    #[error("secret from file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("a secret is a string, {{ env = \"NAME\" }} or {{ file = \"/path\" }}")]
    Shape,
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the client that needs it. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of the environment variable `name` (`{ env = NAME }`).
    pub fn from_env(name: &str) -> Result<Secret, SecretError> {
        std::env::var(name)
            .map(Secret)
            .map_err(|_| SecretError::EnvMissing { name: name.into() })
    }

    /// The content of the file at `path`, without a trailing newline (`{ file = PATH }`).
    pub fn from_file(path: &str) -> Result<Secret, SecretError> {
        std::fs::read_to_string(path)
            .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|source| SecretError::File {
                path: path.into(),
                source,
            })
    }

    fn resolve(source: Source) -> Result<Secret, SecretError> {
        match source {
            Source::Inline(v) => Ok(Secret(v)),
            Source::Env { env } => Secret::from_env(&env),
            Source::File { file } => Secret::from_file(&file),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({self})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "" } else { REDACTED })
    }
}

/// Serialized as `***` when set, `""` when not: printing a config never
/// shows a secret. Such a printout read back keeps `***` as the secret,
/// which no server accepts, so a leak through a round trip fails loudly.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Source {
    Inline(String),
    Env { env: String },
    File { file: String },
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source =
            Source::deserialize(d).map_err(|_| serde::de::Error::custom(SecretError::Shape))?;
        Secret::resolve(source).map_err(serde::de::Error::custom)
    }
}

impl From<&str> for Secret {
    fn from(v: &str) -> Secret {
        Secret(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize)]
    struct C {
        password: Secret,
    }

    #[test]
    fn never_shown() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let c = C { password: s };
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"password":"***"}"#);
        assert_eq!(c.password.expose(), "hunter2");
        assert_eq!(Secret::default().to_string(), "");
    }

    #[test]
    fn read_inline_from_env_and_from_file() {
        let c: C = serde_json::from_str(r#"{"password":"p"}"#).unwrap();
        assert_eq!(c.password.expose(), "p");

        std::env::set_var("VOC_SECRET_TEST_VAR", "from-env");
        let c: C = serde_json::from_str(r#"{"password":{"env":"VOC_SECRET_TEST_VAR"}}"#).unwrap();
        assert_eq!(c.password.expose(), "from-env");

        let path = std::env::temp_dir().join(format!("voc-secret-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        let json = format!(
            r#"{{"password":{{"file":{:?}}}}}"#,
            path.display().to_string()
        );
        let c: C = serde_json::from_str(&json).unwrap();
        assert_eq!(c.password.expose(), "from-file");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn secret_names() {
        for n in [
            "sasl.password",
            "ssl.key.password",
            "ssl.key.pem",
            "sasl.oauthbearer.client.secret",
            "SASL.OAUTHBEARER.TOKEN.ENDPOINT.URL",
            "sasl.username",
            "sasl.oauthbearer.config",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "security.protocol",
            "sasl.mechanisms",
            "queued.max.messages.kbytes",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn missing_sources_are_clear_errors() {
        let e = serde_json::from_str::<C>(r#"{"password":{"env":"VOC_SECRET_NOT_SET_ANYWHERE"}}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("VOC_SECRET_NOT_SET_ANYWHERE"), "{e}");
        let e = serde_json::from_str::<C>(r#"{"password":{"file":"/nonexistent/voc"}}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/nonexistent/voc"), "{e}");
        let e = serde_json::from_str::<C>(r#"{"password":{"vault":"x"}}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("env = "), "{e}");
    }
}
