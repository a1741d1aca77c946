//! Dimension tables analysts join feedback with (the customer dimension of
//! migration 006), loaded in one INSERT; re-loading replaces rows by key.

use super::{ClickHouseSink, SinkError};
use clickhouse::Row;
use serde::Serialize;

/// One row of `customers`.
#[derive(Debug, Row, Serialize)]
pub struct CustomerRow<'a> {
    pub customer_key: &'a str,
    pub segment: &'a str,
    pub asset_tier: &'a str,
    pub tenure_years: u8,
    pub high_value: u8,
    pub city: &'a str,
    /// Unix seconds; the newest version of a key wins.
    pub updated_at: u32,
}

impl ClickHouseSink {
    /// Insert (or replace) customer dimension rows.
    pub async fn load_customers(&self, rows: &[CustomerRow<'_>]) -> Result<(), SinkError> {
        self.timed(async {
            let mut insert = self
                .client
                .insert::<CustomerRow<'_>>("customers")
                .await
                .map_err(|e| self.err(e))?;
            for r in rows {
                insert.write(r).await.map_err(|e| self.err(e))?;
            }
            insert.end().await.map_err(|e| self.err(e))
        })
        .await
    }
}
