//! How SQLite's rows read as [`StoredRow`]: UUIDs and JSON are stored as text and parsed here;
//! everything else decodes as it is.

use crate::StoreError;
use crate::engine::rows::{Native, StoredRow};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

impl StoredRow for SqliteRow {
    fn get<T: Native>(&self, column: &str) -> Result<T, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn uuid(&self, column: &str) -> Result<Uuid, StoreError> {
        let text: String = self.try_get(column)?;
        parse_uuid(column, &text)
    }

    fn optional_uuid(&self, column: &str) -> Result<Option<Uuid>, StoreError> {
        let text: Option<String> = self.try_get(column)?;
        text.map(|text| parse_uuid(column, &text)).transpose()
    }

    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError> {
        let text: String = self.try_get(column)?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
    }
}

fn parse_uuid(column: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
}
