//! The ClickHouse client: connection settings, errors that name the server,
//! a timeout on every request, and the generic insert and execute calls the
//! rest of the crate (and the alert history) build on.

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use voc_core::secret::Secret;

use super::migrate::MigrationError;

/// ClickHouse connection settings (`[clickhouse]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP endpoint.
    pub url: String,
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
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "voc".into(),
            user: "default".into(),
            password: Secret::default(),
            table: "feedback_events".into(),
            lz4: true,
            timeout_ms: 30_000,
        }
    }
}

impl ClickHouseConfig {
    /// Checks that need no network. The URL appears in errors and logs, so
    /// it must not carry credentials: they go in `user` and `password`.
    pub fn validate(&self) -> Result<(), String> {
        let authority = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if authority.contains('@') {
            return Err(
                "clickhouse.url must not contain credentials (user:password@): \
                 set clickhouse.user and clickhouse.password instead"
                    .into(),
            );
        }
        Ok(())
    }

    /// A client for this server and database (RowBinary without type
    /// validation: 18.16 lacks RowBinaryWithNamesAndTypes).
    pub fn client(&self) -> Client {
        let client = Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_database(&self.database)
            .with_validation(false);
        if self.password.is_empty() {
            client
        } else {
            client.with_password(self.password.expose())
        }
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

/// A connection to the configured ClickHouse database: every request has the
/// configured timeout and errors name the server.
#[derive(Clone)]
pub struct ClickHouseSink {
    pub(crate) client: Client,
    pub(crate) cfg: ClickHouseConfig,
}

impl ClickHouseSink {
    pub fn new(cfg: ClickHouseConfig) -> Self {
        let mut client = cfg.client();
        if cfg.lz4 {
            client = client.with_compression(clickhouse::Compression::Lz4);
        }
        ClickHouseSink { client, cfg }
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
