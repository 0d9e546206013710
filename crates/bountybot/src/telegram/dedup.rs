//! Which updates were already processed, kept durably in the data dir, so that an
//! update Telegram delivers again after a crash or restart is not run twice.
//!
//! Long polling confirms a batch as soon as it arrives, so a crash can replay it; and
//! Telegram may restart `update_id` numbering at a random value after a quiet week. A
//! "highest id seen" mark would then swallow every new update, so this keeps the set
//! of the most recent ids instead.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use statekit::json::{JsonError, read_json, write_json_atomic};

/// How many recent update ids are remembered.
pub const WINDOW: usize = 1000;

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    /// Processed ids, oldest first.
    recent: VecDeque<u32>,
}

/// The processed-updates record at `{data}/_telegram/processed.json`.
#[derive(Debug)]
pub struct Processed {
    path: PathBuf,
    state: Mutex<(File, BTreeSet<u32>)>,
}

impl Processed {
    /// Loads the record under `data_dir` (empty if missing; an error if corrupt).
    pub fn open(data_dir: &std::path::Path) -> Result<Processed, JsonError> {
        let path = data_dir.join("_telegram").join("processed.json");
        let file: File = read_json(&path)?.unwrap_or_default();
        let set = file.recent.iter().copied().collect();
        Ok(Processed {
            path,
            state: Mutex::new((file, set)),
        })
    }

    /// Whether update `id` was processed.
    pub fn contains(&self, id: u32) -> bool {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.1.contains(&id)
    }

    /// Records update `id` as processed, durably.
    pub fn record(&self, id: u32) -> Result<(), JsonError> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (file, set) = &mut *state;
        if !set.insert(id) {
            return Ok(());
        }
        file.recent.push_back(id);
        while file.recent.len() > WINDOW {
            if let Some(old) = file.recent.pop_front() {
                set.remove(&old);
            }
        }
        write_json_atomic(&self.path, file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_ids_across_reopen_and_tolerates_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let p = Processed::open(dir.path()).unwrap();
        p.record(100).unwrap();
        p.record(101).unwrap();
        let p = Processed::open(dir.path()).unwrap();
        assert!(p.contains(100) && p.contains(101));
        assert!(
            !p.contains(7),
            "a lower id after a numbering reset is still new"
        );
        assert!(!p.contains(102));
    }

    #[test]
    fn keeps_a_bounded_window() {
        let dir = tempfile::tempdir().unwrap();
        let p = Processed::open(dir.path()).unwrap();
        for id in 0..(WINDOW as u32 + 10) {
            p.record(id).unwrap();
        }
        assert!(!p.contains(0));
        assert!(p.contains(WINDOW as u32 + 9));
        let p = Processed::open(dir.path()).unwrap();
        assert!(!p.contains(9) && p.contains(10));
    }
}
