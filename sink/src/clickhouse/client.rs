//! The ClickHouse client: connection settings, errors that name the server,
//! a timeout on every request, and the generic insert and execute calls the
//! rest of the crate (and the alert history) build on. `https://` URLs use
//! the system's OpenSSL, with the CA of `ca_file` when set.

use clickhouse::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use voc_core::secret::Secret;

use super::migrate::MigrationError;

/// ClickHouse connection settings (`[clickhouse]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP(S) endpoint, e.g. `http://127.0.0.1:8123` or `https://ch.bank.internal:8443`.
    pub url: String,
    /// PEM file of the CA(s) that signed the server's certificate (https URLs);
    /// empty: the system's CAs.
    pub ca_file: String,
    pub database: String,
    pub user: String,
    /// A string, `{ env = "NAME" }` or `{ file = "/path" }`; never printed.
    pub password: Secret,
    /// Table the worker inserts into (the `feedback` view reads it deduplicated).
    pub table: String,
    /// Compress inserts with LZ4.
    pub lz4: bool,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// The ClickHouse cluster (`remote_servers` name) the schema was
    /// migrated to with `voc schema migrate --cluster NAME`; empty: one
    /// server. When set, every insert goes through the Distributed tables
    /// synchronously (`insert_distributed_sync = 1`): acknowledged only
    /// once each shard wrote its rows, so offsets are committed on rows
    /// that are stored.
    pub cluster: String,
    /// With `cluster`: the HTTP(S) URLs of each shard's replicas, shards in
    /// the cluster's `remote_servers` order, e.g.
    /// `[["http://ch1a:8123", "http://ch1b:8123"], ["http://ch2a:8123", "http://ch2b:8123"]]`.
    /// Set: the worker writes events shard-local (each event to
    /// `<table>_local` on its shard, `sipHash64(event_id)` modulo the shard
    /// count, as the Distributed table shards; replicas tried in order).
    /// Needed on ClickHouse 18.16, whose Distributed inserts skip the
    /// JOINing materialized views on the receiving server. Empty: through
    /// the Distributed table.
    pub shards: Vec<Vec<String>>,
    /// Most partitions (months of `event_time`) one insert may span: an
    /// insert of events from more months is split. Current servers refuse a
    /// block over `max_partitions_per_insert_block` (100 by default).
    pub max_partitions_per_insert: usize,
    /// An insert of several rows that timed out this many times in a row is
    /// split in halves (one that is too large for the server never succeeds).
    pub split_after_timeouts: u32,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            ca_file: String::new(),
            database: "voc".into(),
            user: "default".into(),
            password: Secret::default(),
            table: "feedback_events".into(),
            lz4: true,
            timeout_ms: 30_000,
            cluster: String::new(),
            shards: Vec::new(),
            max_partitions_per_insert: 100,
            split_after_timeouts: 3,
        }
    }
}

impl ClickHouseConfig {
    /// A client for this server and database (RowBinary without type
    /// validation: 18.16 lacks RowBinaryWithNamesAndTypes). Fails when
    /// `ca_file` cannot be read or holds no certificate.
    pub fn client(&self) -> Result<Client, SinkError> {
        // ClickHouse closes idle connections after 3 s; stop reusing them before.
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(2))
            .build(self.connector()?);
        let client = Client::with_http_client(http)
            .with_url(&self.url)
            .with_user(&self.user)
            .with_database(&self.database)
            .with_validation(false);
        let client = if self.cluster.is_empty() {
            client
        } else {
            client.with_setting("insert_distributed_sync", "1")
        };
        Ok(if self.password.is_empty() {
            client
        } else {
            client.with_password(self.password.expose())
        })
    }

    /// Checks that need no network. The URL appears in errors and logs, so
    /// it must not carry credentials: they go in `user` and `password`.
    pub fn validate(&self) -> Result<(), SinkError> {
        let authority = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if authority.contains('@') {
            return Err(self.config_error(
                "url must not contain credentials (user:password@): \
                 set clickhouse.user and clickhouse.password instead"
                    .into(),
            ));
        }
        let https = self.url.starts_with("https://");
        if !https && !self.url.starts_with("http://") {
            return Err(self.config_error("url must start with http:// or https://".into()));
        }
        if !self
            .cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(self.config_error(format!(
                "cluster {:?}: a remote_servers name (letters, digits, _)",
                self.cluster
            )));
        }
        if !self.shards.is_empty() && self.cluster.is_empty() {
            return Err(self.config_error(
                "shards is set but cluster is not: shard-local writes need the cluster schema"
                    .into(),
            ));
        }
        for url in self.shards.iter().flatten() {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(self.config_error(format!(
                    "shards: {url:?} must start with http:// or https://"
                )));
            }
        }
        if self.shards.iter().any(|s| s.is_empty()) {
            return Err(self.config_error("shards: a shard without replicas".into()));
        }
        if self.max_partitions_per_insert < 2 {
            return Err(self.config_error("max_partitions_per_insert must be at least 2".into()));
        }
        if !self.ca_file.is_empty() && !https {
            return Err(self.config_error("ca_file is set but the url is not https://".into()));
        }
        self.connector().map(|_| ())
    }

    /// The connector the clickhouse crate would build, plus our CA.
    fn connector(&self) -> Result<hyper_tls::HttpsConnector<HttpConnector>, SinkError> {
        let mut http = HttpConnector::new();
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.enforce_http(false);
        let mut tls = native_tls::TlsConnector::builder();
        if !self.ca_file.is_empty() {
            let pem = std::fs::read(&self.ca_file)
                .map_err(|e| self.config_error(format!("ca_file {}: {e}", self.ca_file)))?;
            let certs = native_tls::Certificate::stack_from_pem(&pem)
                .map_err(|e| self.config_error(format!("ca_file {}: {e}", self.ca_file)))?;
            if certs.is_empty() {
                return Err(self.config_error(format!(
                    "ca_file {}: no PEM certificate in it",
                    self.ca_file
                )));
            }
            for c in certs {
                tls.add_root_certificate(c);
            }
        }
        let tls = tls
            .build()
            .map_err(|e| self.config_error(format!("TLS set-up: {e}")))?;
        Ok(hyper_tls::HttpsConnector::from((
            http,
            tokio_native_tls::TlsConnector::from(tls),
        )))
    }

    fn config_error(&self, what: String) -> SinkError {
        SinkError::Config { what }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("ClickHouse at {url}: {source}")]
    ClickHouse {
        url: String,
        #[source]
        source: clickhouse::error::Error,
    },
    /// A setting that cannot work (no url: it may be the problem).
    #[error("clickhouse.{what}")]
    Config { what: String },
    #[error("ClickHouse at {url}: request timed out after {ms} ms")]
    Timeout { url: String, ms: u64 },
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("ClickHouse answered an unreadable version {0:?}")]
    Version(String),
    #[error(transparent)]
    Plan(#[from] MigrationError),
    #[error("migration {name} ({variant}), statement {statement}: {source}")]
    Migration {
        name: String,
        variant: String,
        statement: usize,
        #[source]
        source: Box<SinkError>,
    },
    #[error("migration {migration}: {what}")]
    Cluster { migration: String, what: String },
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Server answers that no retry can change: who we are was refused
/// (unknown user, wrong or missing password), or the server's certificate was.
/// Codes: UNKNOWN_USER 192, WRONG_PASSWORD 193, REQUIRED_PASSWORD 194,
/// AUTHENTICATION_FAILED 516 (current servers); 18.16 writes "Code: 193, ",
/// current servers "Code: 516. ".
const ACCESS_REFUSED_CODES: &[u32] = &[192, 193, 194, 516];
const ACCESS_REFUSED: &[&str] = &[
    "certificate verify failed",
    "self-signed certificate",
    "self signed certificate",
    "unable to get local issuer certificate",
    "certificate has expired",
    "hostname mismatch",
];

impl SinkError {
    /// The server refused our credentials, or we refused its certificate:
    /// retrying cannot help, an operator must fix the configuration.
    pub fn is_access_refused(&self) -> bool {
        match self {
            SinkError::Config { .. } => true,
            SinkError::ClickHouse { source, .. } => {
                let mut text = source.to_string();
                let mut cause = std::error::Error::source(source);
                while let Some(c) = cause {
                    text.push_str(": ");
                    text.push_str(&c.to_string());
                    cause = c.source();
                }
                ACCESS_REFUSED.iter().any(|m| text.contains(m))
                    || ACCESS_REFUSED_CODES.iter().any(|c| {
                        text.contains(&format!("Code: {c},"))
                            || text.contains(&format!("Code: {c}."))
                    })
            }
            _ => false,
        }
    }
}

/// A connection to the configured ClickHouse database: every request has the
/// configured timeout and errors name the server.
#[derive(Clone)]
pub struct ClickHouseSink {
    pub(crate) client: Client,
    pub(crate) cfg: ClickHouseConfig,
    /// One sink per replica of each shard (`shards`), for shard-local inserts.
    pub(crate) shards: Vec<Vec<ClickHouseSink>>,
}

impl ClickHouseSink {
    pub fn new(cfg: ClickHouseConfig) -> Result<Self, SinkError> {
        let mut client = cfg.client()?;
        if cfg.lz4 {
            client = client.with_compression(clickhouse::Compression::Lz4);
        }
        let shards = cfg
            .shards
            .iter()
            .map(|replicas| {
                replicas
                    .iter()
                    .map(|url| {
                        ClickHouseSink::new(ClickHouseConfig {
                            url: url.clone(),
                            shards: Vec::new(),
                            ..cfg.clone()
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ClickHouseSink {
            client,
            cfg,
            shards,
        })
    }

    /// The settings this sink was made with.
    pub fn config(&self) -> &ClickHouseConfig {
        &self.cfg
    }

    /// The error for a failed request to this server.
    pub fn err(&self, source: clickhouse::error::Error) -> SinkError {
        SinkError::ClickHouse {
            url: self.cfg.url.clone(),
            source,
        }
    }

    /// Run `f` within the configured timeout.
    pub async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, SinkError>>,
    ) -> Result<T, SinkError> {
        tokio::time::timeout(Duration::from_millis(self.cfg.timeout_ms), f)
            .await
            .unwrap_or_else(|_| {
                Err(SinkError::Timeout {
                    url: self.cfg.url.clone(),
                    ms: self.cfg.timeout_ms,
                })
            })
    }

    /// Insert rows of any table in one statement (alerting side tables).
    pub async fn insert_rows<R>(&self, table: &str, rows: &[R]) -> Result<(), SinkError>
    where
        R: clickhouse::RowWrite + clickhouse::RowOwned,
    {
        if rows.is_empty() {
            return Ok(());
        }
        self.timed(async {
            let mut insert = self
                .client
                .insert::<R>(table)
                .await
                .map_err(|e| self.err(e))?;
            for r in rows {
                insert.write(r).await.map_err(|e| self.err(e))?;
            }
            insert.end().await.map_err(|e| self.err(e))
        })
        .await
    }

    /// Run one statement that returns no rows (DDL, INSERT ... SELECT, OPTIMIZE).
    pub async fn execute(&self, sql: &str) -> Result<(), SinkError> {
        let admin = self.client.clone().with_database("default");
        // Sent verbatim: a `?` in a DDL comment is not a bind placeholder.
        let sql = &sql.replace('?', "??");
        self.timed(async { admin.query(sql).execute().await.map_err(|e| self.err(e)) })
            .await
    }

    /// `SELECT version()`, parsed.
    pub async fn server_version(&self) -> Result<super::migrate::ServerVersion, SinkError> {
        let v: String = self
            .timed(async {
                self.client
                    .clone()
                    .with_database("default")
                    .query("SELECT version()")
                    .fetch_one::<String>()
                    .await
                    .map_err(|e| self.err(e))
            })
            .await?;
        super::migrate::ServerVersion::parse(&v).ok_or(SinkError::Version(v))
    }

    /// At start: fails when the server refuses our credentials or we refuse
    /// its certificate ([`SinkError::is_access_refused`]); a server that is
    /// merely down is logged and left to the retries.
    pub async fn check_access(&self) -> Result<(), SinkError> {
        match self.ping().await {
            Err(e) if e.is_access_refused() => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "ClickHouse not reachable at start; inserts will retry");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// Server reachable? (`SELECT 1`), for readiness checks.
    pub async fn ping(&self) -> Result<(), SinkError> {
        self.timed(async {
            self.client
                .query("SELECT 1")
                .fetch_one::<u8>()
                .await
                .map(|_| ())
                .map_err(|e| self.err(e))
        })
        .await
    }
}
