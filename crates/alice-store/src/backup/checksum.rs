//! Checksums: of the data file (sha256), and of each table's content, order-independent
//! ([`RowDigest`]), and the comparison of tables read back from a restore with the manifest's.

use super::{BackupError, TableSummary, run_blocking};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// sha256 (lowercase hex) and size of a file.
pub(super) async fn sha256_file(path: &Path) -> Result<(String, u64), BackupError> {
    let path = path.to_path_buf();
    run_blocking(move || {
        use std::io::Read as _;
        let context = format!("cannot read {}", path.display());
        let mut file = std::fs::File::open(&path).map_err(BackupError::io(context.clone()))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let read = file
                .read(&mut buffer)
                .map_err(BackupError::io(context.clone()))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            bytes += read as u64;
        }
        Ok((hex(&hasher.finalize()), bytes))
    })
    .await
}

/// Compares tables read back from a restored database with the manifest's. Every table in the
/// manifest must be there with the same rows and checksum; a table the manifest does not have
/// is accepted only when empty (one the target already had, e.g. from a newer migration).
pub(super) fn compare(
    stage: &'static str,
    manifest: &BTreeMap<String, TableSummary>,
    found: &BTreeMap<String, TableSummary>,
) -> Result<(), BackupError> {
    for (table, expected) in manifest {
        let mismatch = |problem: String| BackupError::Mismatch {
            stage,
            table: table.clone(),
            problem,
        };
        let Some(actual) = found.get(table) else {
            return Err(mismatch("it is missing".into()));
        };
        if actual.rows != expected.rows {
            return Err(mismatch(format!(
                "{} rows, the manifest says {}",
                actual.rows, expected.rows
            )));
        }
        if actual.checksum != expected.checksum {
            return Err(mismatch(format!(
                "its content checksum is {}, the manifest says {}",
                actual.checksum, expected.checksum
            )));
        }
    }
    if let Some((table, extra)) = found
        .iter()
        .find(|(table, summary)| !manifest.contains_key(*table) && summary.rows > 0)
    {
        return Err(BackupError::Mismatch {
            stage,
            table: table.clone(),
            problem: format!("it holds {} rows and is not in the backup", extra.rows),
        });
    }
    Ok(())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// An order-independent digest of a multiset of rows: the sha256 of each row, added up modulo
/// 2^256 (as four little-endian u64 limbs), then hashed once more with the row count.
pub(super) struct RowDigest {
    sum: [u64; 4],
    rows: u64,
}

impl RowDigest {
    pub(super) fn new() -> Self {
        Self {
            sum: [0; 4],
            rows: 0,
        }
    }

    pub(super) fn add_row(&mut self, encoded: &[u8]) {
        let hash = Sha256::digest(encoded);
        let mut carry = 0u64;
        for (limb, chunk) in self.sum.iter_mut().zip(hash.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            let (partial, overflow_a) = limb.overflowing_add(u64::from_le_bytes(bytes));
            let (total, overflow_b) = partial.overflowing_add(carry);
            *limb = total;
            carry = u64::from(overflow_a) + u64::from(overflow_b);
        }
        self.rows += 1;
    }

    pub(super) fn finish(&self) -> TableSummary {
        let mut hasher = Sha256::new();
        hasher.update(self.rows.to_le_bytes());
        for limb in self.sum {
            hasher.update(limb.to_le_bytes());
        }
        TableSummary {
            rows: self.rows,
            checksum: hex(&hasher.finalize()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_row_digest_ignores_order_and_sees_every_row() {
        let digest = |rows: &[&str]| {
            let mut digest = RowDigest::new();
            for row in rows {
                digest.add_row(row.as_bytes());
            }
            digest.finish()
        };
        let a = digest(&["1,'x'", "2,'y'", "2,'y'"]);
        assert_eq!(a, digest(&["2,'y'", "1,'x'", "2,'y'"]));
        assert_ne!(a, digest(&["1,'x'", "2,'y'"]), "a duplicate row counts");
        assert_ne!(a, digest(&["1,'x'", "2,'y'", "2,'z'"]));
        assert_eq!(a.rows, 3);
        assert_eq!(digest(&[]).rows, 0);
    }

    #[test]
    fn tables_compare_by_rows_checksum_and_presence() {
        let table = |rows, checksum: &str| TableSummary {
            rows,
            checksum: checksum.into(),
        };
        let manifest = BTreeMap::from([("users".to_owned(), table(2, "aa"))]);
        assert!(compare("verify", &manifest, &manifest).is_ok());
        let mut found = manifest.clone();
        found.insert("newer".into(), table(0, "bb"));
        assert!(
            compare("verify", &manifest, &found).is_ok(),
            "an empty extra table"
        );
        found.insert("newer".into(), table(1, "bb"));
        assert!(compare("verify", &manifest, &found).is_err());
        let found = BTreeMap::from([("users".to_owned(), table(2, "ab"))]);
        let error = compare("verify", &manifest, &found)
            .unwrap_err()
            .to_string();
        assert!(error.contains("table users"), "{error}");
        assert!(compare("verify", &manifest, &BTreeMap::new()).is_err());
    }
}
