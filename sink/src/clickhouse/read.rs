//! Reading results back (saved analyst queries, the report): any SELECT as a
//! table of JSON values, via ClickHouse's JSONCompact output.

use super::{ClickHouseSink, SinkError};
use serde::Deserialize;

/// A query result: column names and types, rows of JSON values. ClickHouse
/// writes 64-bit integers as JSON strings; [`Table::number`] reads both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub types: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct JsonCompact {
    meta: Vec<Meta>,
    data: Vec<Vec<serde_json::Value>>,
}

impl Table {
    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// A cell as a number (numbers and numeric strings), `None` for null/other.
    pub fn number(v: &serde_json::Value) -> Option<f64> {
        match v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A cell as text (strings as they are, numbers printed, null empty).
    pub fn text(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            v => v.to_string(),
        }
    }
}

impl ClickHouseSink {
    /// Run a SELECT and return its whole result. The text is sent as it is
    /// (a `?` is not a bind placeholder here).
    pub async fn query_table(&self, sql: &str) -> Result<Table, SinkError> {
        let sql = &sql.replace('?', "??");
        let bytes = self
            .timed(async {
                self.client
                    .query(sql)
                    .fetch_bytes("JSONCompact")
                    .map_err(|e| self.err(e))?
                    .collect()
                    .await
                    .map_err(|e| self.err(e))
            })
            .await?;
        let parsed: JsonCompact =
            serde_json::from_slice(&bytes).map_err(|source| SinkError::Encode {
                what: "a JSONCompact query result",
                source,
            })?;
        Ok(Table {
            columns: parsed.meta.iter().map(|m| m.name.clone()).collect(),
            types: parsed.meta.into_iter().map(|m| m.kind).collect(),
            rows: parsed.data,
        })
    }
}
