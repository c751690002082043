//! How PostgreSQL's rows read as [`StoredRow`]: UUID and JSONB are native types, so every
//! column decodes as it is.

use crate::StoreError;
use crate::engine::rows::{Native, StoredRow};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

impl StoredRow for PgRow {
    fn get<T: Native>(&self, column: &str) -> Result<T, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn uuid(&self, column: &str) -> Result<Uuid, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn optional_uuid(&self, column: &str) -> Result<Option<Uuid>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError> {
        Ok(self.try_get(column)?)
    }
}
