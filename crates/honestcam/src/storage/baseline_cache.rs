//! Each property's baseline (`compliance.json`), parsed and checked once per change of
//! the file and kept in memory (at most [`BASELINES_KEPT`], the least recently used
//! dropped).
//!
//! A property with a database keeps a copy of the file there, refreshed whenever the
//! file changes (not by storage opened read-only); without the file (a database
//! restored alone) the copy is served.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use super::legacy::{self, LegacyError};
use super::sqlite::{Databases, DbError, baseline_repo};
use super::version::Generations;
use super::{StoreError, hex_sha256};
use crate::domain::Baseline;
use crate::property::{PropertyPaths, Slug};

/// Most parsed baselines a [`BaselineCache`] keeps.
pub const BASELINES_KEPT: usize = 256;

/// Parsed baselines by property.
#[derive(Debug, Default)]
pub struct BaselineCache {
    kept: Mutex<HashMap<Slug, Kept>>,
}

/// A parsed baseline, its file's modification time, and a stamp of its last use.
#[derive(Debug)]
struct Kept {
    modified: SystemTime,
    baseline: Arc<Baseline>,
    used: u64,
}

impl BaselineCache {
    /// The property's baseline, re-read when the file changed since it was kept, and
    /// copied into the property's database (if it has one) when it did; the copy when
    /// the file is gone. A write to a database bumps the property's generation.
    pub fn get(
        &self,
        paths: &PropertyPaths,
        dbs: &Databases,
        generations: &Generations,
    ) -> Result<Arc<Baseline>, StoreError> {
        let file = paths.baseline();
        let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
        {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            if let (Some(modified), Some(k)) = (modified, kept.get_mut(&paths.slug))
                && k.modified == modified
            {
                k.used = next_use();
                return Ok(Arc::clone(&k.baseline));
            }
        }
        let Some(modified) = modified else {
            return stored(paths, dbs);
        };
        // Read and stored without the cache's lock, which every property shares: a
        // durable write to one property's database never holds up another property.
        // Two requests may both read a changed file; storing it is idempotent.
        let baseline = Arc::new(legacy::read_baseline(paths)?);
        store(paths, &baseline, dbs, generations)?;
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.insert(
            paths.slug.clone(),
            Kept {
                modified,
                baseline: Arc::clone(&baseline),
                used: next_use(),
            },
        );
        if kept.len() > BASELINES_KEPT
            && let Some(oldest) = kept
                .iter()
                .min_by_key(|(_, k)| k.used)
                .map(|(slug, _)| slug.clone())
        {
            kept.remove(&oldest);
        }
        Ok(baseline)
    }
}

/// Makes sure the property's database holds its current baseline file, if there is
/// one (after a command created or replaced the database).
pub fn sync(
    paths: &PropertyPaths,
    dbs: &Databases,
    generations: &Generations,
) -> Result<(), StoreError> {
    if paths.baseline().is_file() {
        let baseline = legacy::read_baseline(paths)?;
        store(paths, &baseline, dbs, generations)?;
    }
    Ok(())
}

/// Copies `baseline` into the property's database if it has one and holds another
/// (never through databases opened read-only: the file is served as it is).
fn store(
    paths: &PropertyPaths,
    baseline: &Baseline,
    dbs: &Databases,
    generations: &Generations,
) -> Result<(), StoreError> {
    if dbs.read_only() {
        return Ok(());
    }
    let Some(db) = dbs.property_existing(&paths.db())? else {
        return Ok(());
    };
    let json = serde_json::to_string(baseline).map_err(|source| LegacyError::Encode {
        path: paths.baseline(),
        source,
    })?;
    let sha = hex_sha256(json.as_bytes());
    // Read first: the copy is current almost always, and a read never waits for
    // another process's write transaction (a write would, on every first read of
    // the property by this process).
    if db
        .read(baseline_repo::load)?
        .is_some_and(|(_, stored)| stored == sha)
    {
        return Ok(());
    }
    let now = jiff::Timestamp::now().to_string();
    if db.write(move |c| baseline_repo::store(c, &json, &sha, &now))? {
        generations.bump(&paths.slug);
    }
    Ok(())
}

/// The baseline stored in the property's database (the file is gone).
fn stored(paths: &PropertyPaths, dbs: &Databases) -> Result<Arc<Baseline>, StoreError> {
    let missing = || StoreError::Legacy(LegacyError::Missing(paths.baseline()));
    let Some(db) = dbs.property_existing(&paths.db())? else {
        return Err(missing());
    };
    let Some((json, _)) = db.read(baseline_repo::load)? else {
        return Err(missing());
    };
    let baseline: Baseline = serde_json::from_str(&json).map_err(|source| DbError::CorruptRow {
        table: "baseline",
        key: "1".into(),
        source,
    })?;
    Ok(Arc::new(baseline))
}

/// A stamp for least-recently-used bookkeeping: later uses get larger stamps.
fn next_use() -> u64 {
    static CLOCK: AtomicU64 = AtomicU64::new(0);
    CLOCK.fetch_add(1, Ordering::Relaxed)
}
