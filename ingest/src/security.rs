//! How every Kafka client of voc (worker consumer, producers, `voc gen`,
//! `voc notify`, `voc topics`) authenticates and encrypts: `[kafka.tls]` and
//! `[kafka.sasl]`, turned into librdkafka properties in one place, checked
//! without the network at load ([`KafkaSecurity::validate`]) and against the
//! broker at start ([`crate::connect::check`]).
//!
//! | `[kafka.tls] enabled` | `[kafka.sasl] mechanism` | security.protocol |
//! |---|---|---|
//! | false | "" | PLAINTEXT |
//! | true | "" | SSL |
//! | true | PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 / GSSAPI | SASL_SSL |
//! | false | SCRAM-* / GSSAPI | SASL_PLAINTEXT (warned: the data is not encrypted) |
//! | false | PLAIN | refused unless `allow_plaintext = true`: the password would cross the network in clear |

use serde::{Deserialize, Serialize};
use std::path::Path;
use voc_core::secret::Secret;

/// `[kafka.tls]`: TLS to the brokers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaTls {
    /// Encrypt every broker connection.
    pub enabled: bool,
    /// PEM file of the CA(s) that signed the brokers' certificates; empty:
    /// the system's CAs.
    pub ca_file: String,
    /// PEM client certificate, for brokers that require mutual TLS.
    pub cert_file: String,
    /// PEM private key of `cert_file`.
    pub key_file: String,
    /// Password of `key_file` when it is encrypted.
    pub key_password: Secret,
    /// Check that the broker's certificate names the host connected to.
    pub verify_hostname: bool,
}

impl Default for KafkaTls {
    fn default() -> Self {
        KafkaTls {
            enabled: false,
            ca_file: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            key_password: Secret::default(),
            verify_hostname: true,
        }
    }
}

/// SASL mechanisms librdkafka offers in this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SaslMechanism {
    /// No SASL.
    #[default]
    #[serde(rename = "")]
    None,
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    /// Kerberos; needs voc built with the `gssapi` feature.
    #[serde(rename = "GSSAPI")]
    Gssapi,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::None => "",
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::Gssapi => "GSSAPI",
        }
    }
}

/// `[kafka.sasl]`: who voc is to the brokers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSasl {
    /// "" (none), "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" or "GSSAPI".
    pub mechanism: SaslMechanism,
    /// User for PLAIN and SCRAM.
    pub username: String,
    /// Password for PLAIN and SCRAM.
    pub password: Secret,
    /// GSSAPI: the brokers' Kerberos service name.
    pub kerberos_service_name: String,
    /// GSSAPI: this client's principal.
    pub kerberos_principal: String,
    /// GSSAPI: keytab file of `kerberos_principal`.
    pub kerberos_keytab: String,
    /// Let PLAIN run without TLS (its password then crosses the network in clear).
    pub allow_plaintext: bool,
}

impl Default for KafkaSasl {
    fn default() -> Self {
        KafkaSasl {
            mechanism: SaslMechanism::None,
            username: String::new(),
            password: Secret::default(),
            kerberos_service_name: "kafka".into(),
            kerberos_principal: String::new(),
            kerberos_keytab: String::new(),
            allow_plaintext: false,
        }
    }
}

/// What is wrong with the security settings, found before connecting.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SecurityError {
    #[error("kafka.tls.{option} = {path:?}: {problem}")]
    File {
        option: &'static str,
        path: String,
        problem: String,
    },
    #[error("kafka.tls: cert_file and key_file go together (set both for mutual TLS, or neither)")]
    HalfClientCert,
    #[error("kafka.sasl: mechanism {0} needs username and password")]
    MissingCredentials(&'static str),
    #[error(
        "kafka.sasl: PLAIN without TLS sends the password in clear; enable [kafka.tls] \
         (or set kafka.sasl.allow_plaintext = true on a network you trust)"
    )]
    PlainWithoutTls,
    #[error("kafka.sasl: GSSAPI needs voc built with the `gssapi` feature (cargo build --features gssapi)")]
    GssapiNotBuilt,
    #[error("kafka.extra.{key}: set by voc itself ({why}); remove it from kafka.extra")]
    Reserved { key: String, why: &'static str },
}

/// librdkafka properties voc sets itself: `kafka.extra` may not override
/// them (at-least-once delivery and the typed security settings depend on them).
const RESERVED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use kafka.brokers"),
    ("group.id", "use kafka.group_id"),
    (
        "enable.auto.commit",
        "offsets are committed only after storage",
    ),
    (
        "enable.auto.offset.store",
        "offsets are committed only after storage",
    ),
    (
        "auto.commit.enable",
        "offsets are committed only after storage",
    ),
    ("enable.idempotence", "producer retries must not duplicate"),
    ("security.protocol", "follows [kafka.tls] and [kafka.sasl]"),
    ("ssl.ca.location", "use kafka.tls.ca_file"),
    ("ssl.certificate.location", "use kafka.tls.cert_file"),
    ("ssl.key.location", "use kafka.tls.key_file"),
    ("ssl.key.password", "use kafka.tls.key_password"),
    (
        "ssl.endpoint.identification.algorithm",
        "use kafka.tls.verify_hostname",
    ),
    (
        "enable.ssl.certificate.verification",
        "certificates are always verified",
    ),
    ("sasl.mechanism", "use kafka.sasl.mechanism"),
    ("sasl.mechanisms", "use kafka.sasl.mechanism"),
    ("sasl.username", "use kafka.sasl.username"),
    ("sasl.password", "use kafka.sasl.password"),
    ("sasl.kerberos.keytab", "use kafka.sasl.kerberos_keytab"),
    (
        "sasl.kerberos.principal",
        "use kafka.sasl.kerberos_principal",
    ),
];

/// The typed security settings together.
#[derive(Debug, Clone, Copy)]
pub struct KafkaSecurity<'a> {
    pub tls: &'a KafkaTls,
    pub sasl: &'a KafkaSasl,
}

impl KafkaSecurity<'_> {
    /// librdkafka's `security.protocol` for these settings.
    pub fn protocol(&self) -> &'static str {
        match (self.tls.enabled, self.sasl.mechanism) {
            (false, SaslMechanism::None) => "PLAINTEXT",
            (true, SaslMechanism::None) => "SSL",
            (true, _) => "SASL_SSL",
            (false, _) => "SASL_PLAINTEXT",
        }
    }

    /// Checks files, credentials and `extra` without the network.
    pub fn validate<'a>(
        &self,
        extra_names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), SecurityError> {
        for key in extra_names {
            if let Some((_, why)) = RESERVED.iter().find(|(k, _)| *k == key) {
                return Err(SecurityError::Reserved {
                    key: key.to_string(),
                    why,
                });
            }
        }
        let tls = self.tls;
        if tls.enabled {
            for (option, path) in [
                ("ca_file", &tls.ca_file),
                ("cert_file", &tls.cert_file),
                ("key_file", &tls.key_file),
            ] {
                if !path.is_empty() {
                    check_pem(option, path)?;
                }
            }
            if tls.cert_file.is_empty() != tls.key_file.is_empty() {
                return Err(SecurityError::HalfClientCert);
            }
        }
        let sasl = self.sasl;
        match sasl.mechanism {
            SaslMechanism::None => {}
            SaslMechanism::Gssapi => {
                if !cfg!(feature = "gssapi") {
                    return Err(SecurityError::GssapiNotBuilt);
                }
            }
            m => {
                if sasl.username.is_empty() || sasl.password.is_empty() {
                    return Err(SecurityError::MissingCredentials(m.as_str()));
                }
                if m == SaslMechanism::Plain && !tls.enabled && !sasl.allow_plaintext {
                    return Err(SecurityError::PlainWithoutTls);
                }
            }
        }
        Ok(())
    }

    /// The librdkafka properties, secrets included: give them to a client
    /// config only, never to a log.
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![("security.protocol", self.protocol().to_string())];
        let tls = self.tls;
        if tls.enabled {
            let set = |p: &mut Vec<_>, k, v: &str| {
                if !v.is_empty() {
                    p.push((k, v.to_string()));
                }
            };
            set(&mut p, "ssl.ca.location", &tls.ca_file);
            set(&mut p, "ssl.certificate.location", &tls.cert_file);
            set(&mut p, "ssl.key.location", &tls.key_file);
            set(&mut p, "ssl.key.password", tls.key_password.expose());
            let check = if tls.verify_hostname { "https" } else { "none" };
            p.push(("ssl.endpoint.identification.algorithm", check.into()));
        }
        let sasl = self.sasl;
        match sasl.mechanism {
            SaslMechanism::None => {}
            SaslMechanism::Gssapi => {
                p.push(("sasl.mechanism", "GSSAPI".into()));
                p.push((
                    "sasl.kerberos.service.name",
                    sasl.kerberos_service_name.clone(),
                ));
                if !sasl.kerberos_principal.is_empty() {
                    p.push(("sasl.kerberos.principal", sasl.kerberos_principal.clone()));
                }
                if !sasl.kerberos_keytab.is_empty() {
                    p.push(("sasl.kerberos.keytab", sasl.kerberos_keytab.clone()));
                }
            }
            m => {
                p.push(("sasl.mechanism", m.as_str().into()));
                p.push(("sasl.username", sasl.username.clone()));
                p.push(("sasl.password", sasl.password.expose().to_string()));
            }
        }
        p
    }
}

/// A readable file holding at least one PEM block.
fn check_pem(option: &'static str, path: &str) -> Result<(), SecurityError> {
    let err = |problem: String| SecurityError::File {
        option,
        path: path.to_string(),
        problem,
    };
    if !Path::new(path).is_absolute() {
        return Err(err("must be an absolute path".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    if !text.contains("-----BEGIN ") {
        return Err(err("not a PEM file (no -----BEGIN line)".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec<'a>(tls: &'a KafkaTls, sasl: &'a KafkaSasl) -> KafkaSecurity<'a> {
        KafkaSecurity { tls, sasl }
    }

    #[test]
    fn protocol_follows_the_settings() {
        let (mut tls, mut sasl) = (KafkaTls::default(), KafkaSasl::default());
        assert_eq!(sec(&tls, &sasl).protocol(), "PLAINTEXT");
        tls.enabled = true;
        assert_eq!(sec(&tls, &sasl).protocol(), "SSL");
        sasl.mechanism = SaslMechanism::ScramSha512;
        assert_eq!(sec(&tls, &sasl).protocol(), "SASL_SSL");
        tls.enabled = false;
        assert_eq!(sec(&tls, &sasl).protocol(), "SASL_PLAINTEXT");
    }

    #[test]
    fn properties_carry_files_and_credentials() {
        let tls = KafkaTls {
            enabled: true,
            ca_file: "/etc/voc/ca.pem".into(),
            ..KafkaTls::default()
        };
        let sasl = KafkaSasl {
            mechanism: SaslMechanism::ScramSha256,
            username: "voc".into(),
            password: Secret::new("pw"),
            ..KafkaSasl::default()
        };
        let p = sec(&tls, &sasl).properties();
        let get = |k: &str| p.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(get("ssl.ca.location"), Some("/etc/voc/ca.pem"));
        assert_eq!(get("ssl.endpoint.identification.algorithm"), Some("https"));
        assert_eq!(get("sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(get("sasl.password"), Some("pw"));
        assert_eq!(get("ssl.certificate.location"), None);
    }

    #[test]
    fn validation_refuses_what_cannot_work() {
        let (mut tls, mut sasl) = (KafkaTls::default(), KafkaSasl::default());
        let none: [&str; 0] = [];
        assert_eq!(sec(&tls, &sasl).validate(none), Ok(()));

        let e = sec(&tls, &sasl)
            .validate(["queued.max.messages.kbytes", "enable.auto.commit"])
            .unwrap_err();
        assert!(
            e.to_string().contains("kafka.extra.enable.auto.commit"),
            "{e}"
        );
        assert!(sec(&tls, &sasl).validate(["sasl.password"]).is_err());

        sasl.mechanism = SaslMechanism::Plain;
        assert_eq!(
            sec(&tls, &sasl).validate(none),
            Err(SecurityError::MissingCredentials("PLAIN"))
        );
        sasl.username = "u".into();
        sasl.password = Secret::new("p");
        assert_eq!(
            sec(&tls, &sasl).validate(none),
            Err(SecurityError::PlainWithoutTls)
        );
        sasl.allow_plaintext = true;
        assert_eq!(sec(&tls, &sasl).validate(none), Ok(()));

        tls.enabled = true;
        tls.ca_file = "relative/ca.pem".into();
        let e = sec(&tls, &sasl).validate(none).unwrap_err().to_string();
        assert!(e.contains("absolute"), "{e}");
        tls.ca_file = "/nonexistent/ca.pem".into();
        let e = sec(&tls, &sasl).validate(none).unwrap_err().to_string();
        assert!(
            e.contains("kafka.tls.ca_file") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let not_pem = std::env::temp_dir().join(format!("voc-not-pem-{}", std::process::id()));
        std::fs::write(&not_pem, "hello").unwrap();
        tls.ca_file = not_pem.display().to_string();
        let e = sec(&tls, &sasl).validate(none).unwrap_err().to_string();
        assert!(e.contains("not a PEM"), "{e}");
        std::fs::remove_file(&not_pem).unwrap();

        tls.ca_file.clear();
        tls.cert_file = "/etc/hosts".into();
        assert!(sec(&tls, &sasl).validate(none).is_err());
    }
}
