//! A property's version, told from cheap `stat`s: whether anything a page shows may
//! have changed since it was last read, without opening the property's database or
//! taking its lock.
//!
//! The version is made of the database file's identity, size and modification time,
//! the `-wal`'s size and modification time (every commit appends to it), the
//! baseline's (`compliance.json`) and the legacy log's size and modification time,
//! and an in-process generation bumped after every write this process makes to the
//! property (so that a file system with coarse modification times cannot hide a write
//! made here). A write by another process shows in the files' sizes and times.
//!
//! Generations live in a fixed table of counters indexed by a hash of the slug, so
//! they cost the same however many properties there are: a write may also bump the
//! version of another property sharing its counter, which only costs that property a
//! fresh read.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::property::{PropertyPaths, Slug};

/// Counters of the generation table.
const GENERATIONS: usize = 1024;

/// What a `stat` says of one file, for telling it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStat {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileStat {
    /// `None` when there is no file (or it cannot be seen, which also differs from any
    /// version with the file).
    fn of(path: &Path) -> Option<FileStat> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStat {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        })
    }
}

/// Where a property's stored state stands (see the module docs): two equal versions
/// mean nothing it shows changed in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyVersion {
    generation: u64,
    db: Option<FileStat>,
    wal: Option<FileStat>,
    baseline: Option<FileStat>,
    legacy_log: Option<FileStat>,
}

/// The in-process write generations of every property.
#[derive(Debug)]
pub struct Generations(Box<[AtomicU64]>);

impl Default for Generations {
    fn default() -> Self {
        Generations((0..GENERATIONS).map(|_| AtomicU64::new(0)).collect())
    }
}

impl Generations {
    fn counter(&self, slug: &Slug) -> &AtomicU64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        slug.hash(&mut h);
        &self.0[(h.finish() % GENERATIONS as u64) as usize]
    }

    /// Marks `slug` as written (after the write returned).
    pub fn bump(&self, slug: &Slug) {
        self.counter(slug).fetch_add(1, Ordering::SeqCst);
    }

    /// The property's version now. The generation is read first: a write that
    /// returns after it bumps it, so a version taken before a read never hides a
    /// write that read missed.
    pub fn version(&self, paths: &PropertyPaths) -> PropertyVersion {
        let generation = self.counter(&paths.slug).load(Ordering::SeqCst);
        let db = paths.db();
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        PropertyVersion {
            generation,
            db: FileStat::of(&db),
            wal: FileStat::of(Path::new(&wal)),
            baseline: FileStat::of(&paths.baseline()),
            legacy_log: FileStat::of(&paths.legacy_log()),
        }
    }
}

/// Bumps a property's generation when dropped: held by a write for its whole run, so
/// the bump comes after the write, however it ended.
#[derive(Debug)]
pub struct BumpOnDrop<'g> {
    generations: &'g Generations,
    slug: &'g Slug,
}

impl<'g> BumpOnDrop<'g> {
    /// Bumps `slug` in `generations` when dropped.
    pub fn new(generations: &'g Generations, slug: &'g Slug) -> Self {
        BumpOnDrop { generations, slug }
    }
}

impl Drop for BumpOnDrop<'_> {
    fn drop(&mut self) {
        self.generations.bump(self.slug);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_or_a_file_change_changes_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let paths = PropertyPaths::new(dir.path(), Slug::parse("p").unwrap());
        std::fs::create_dir_all(&paths.dir).unwrap();
        let generations = Generations::default();
        let v0 = generations.version(&paths);
        assert_eq!(generations.version(&paths), v0, "nothing changed");
        drop(BumpOnDrop::new(&generations, &paths.slug));
        let v1 = generations.version(&paths);
        assert_ne!(v1, v0, "a write made here");
        std::fs::write(paths.legacy_log(), "[]").unwrap();
        let v2 = generations.version(&paths);
        assert_ne!(v2, v1, "a file appeared");
        std::fs::write(paths.legacy_log(), "[1]").unwrap();
        assert_ne!(generations.version(&paths), v2, "a file grew");
    }
}
