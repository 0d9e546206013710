//! What is locked, by whom, and how long one waits.
//!
//! - **A property's lock** (a [`RwDirLock`] on its folder). Commands that replace or
//!   create a property's storage (`db-init`, `db-migrate`, `db-rollback`) hold it
//!   exclusively for their whole run ([`ExclusiveLock`]). Every other unit of work holds
//!   it shared (`property_shared`), or exclusively for a write to a backend that
//!   rewrites its files whole (`property_exclusive_for_write`), and only then looks at
//!   which backend the property is on. A request holds it for milliseconds.
//! - **The study lock** (on the data dir): taken shared by writes to the global study
//!   database (`study_shared`), always after the property's lock; a command that
//!   replaces that database would take it exclusively (none does yet).
//!
//! A command that finds a lock taken either waits ([`Wait::Block`], hearing once who
//! holds it) or fails at once with [`StoreError::Busy`] when another command holds it
//! ([`Wait::No`]); it always waits for requests in flight.
//!
//! Nothing here knows a backend: the backends say whether their writes need the
//! exclusive lock (`PropertyBackend::orders_its_writers`).

use std::path::Path;

use statekit::lock::{Access, Busy, RwDirLock};

use super::StoreError;
use crate::config::DataDir;
use crate::property::{PropertyPaths, Slug};

/// Whether a command waits for a lock that is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Wait; `on_wait` hears once who holds it.
    Block,
    /// Fail at once with [`StoreError::Busy`] if another command holds it; wait only
    /// for the portal's requests in flight (they hold it for milliseconds).
    No,
}

/// An exclusive hold on a property, for a command's whole run; released on drop.
#[derive(Debug)]
pub struct ExclusiveLock {
    _lock: RwDirLock,
    slug: Slug,
}

impl ExclusiveLock {
    /// The property held.
    pub fn slug(&self) -> &Slug {
        &self.slug
    }
}

/// How a unit of work holds its property's lock.
#[derive(Debug)]
pub(super) enum Held<'s> {
    /// Its own guard, shared or exclusive.
    Own(RwDirLock),
    /// The caller's exclusive lock.
    Caller(#[allow(dead_code)] &'s ExclusiveLock),
}

impl Held<'_> {
    /// Whether nobody else holds the property meanwhile.
    pub(super) fn is_exclusive(&self) -> bool {
        match self {
            Held::Own(lock) => lock.access() == Access::Exclusive,
            Held::Caller(_) => true,
        }
    }
}

/// The property's lock, shared: for reads, and for writes to a backend that orders
/// its writers itself.
pub(super) fn property_shared(paths: &PropertyPaths) -> Result<Held<'static>, StoreError> {
    Ok(Held::Own(RwDirLock::shared(&paths.dir)?))
}

/// The property's lock, exclusive, for one write to a backend that rewrites its files
/// whole; waits for whoever holds it.
pub(super) fn property_exclusive_for_write(
    paths: &PropertyPaths,
) -> Result<Held<'static>, StoreError> {
    let holder = format!("pid {}: honestcam serve (a write)", std::process::id());
    Ok(Held::Own(RwDirLock::exclusive(
        &paths.dir,
        &holder,
        |_| {},
    )?))
}

/// The property's lock, exclusive, for a command's whole run (see
/// [`super::Storage::lock_property`]).
pub(super) fn property_for_command(
    paths: &PropertyPaths,
    holder: &str,
    wait: Wait,
    on_wait: impl FnOnce(&Busy),
) -> Result<ExclusiveLock, StoreError> {
    let slug = &paths.slug;
    let lock = exclusive(&paths.dir, holder, wait, on_wait, || {
        format!("property {slug}")
    })?;
    Ok(ExclusiveLock {
        _lock: lock,
        slug: slug.clone(),
    })
}

/// The study lock, shared, for one write to the global study database (taken after
/// the property's lock).
pub(super) fn study_shared(data: &DataDir) -> Result<RwDirLock, StoreError> {
    Ok(RwDirLock::shared(data.path())?)
}

fn exclusive(
    dir: &Path,
    holder: &str,
    wait: Wait,
    on_wait: impl FnOnce(&Busy),
    what: impl FnOnce() -> String,
) -> Result<RwDirLock, StoreError> {
    match wait {
        Wait::Block => Ok(RwDirLock::exclusive(dir, holder, on_wait)?),
        Wait::No => match RwDirLock::try_exclusive(dir, holder)? {
            Ok(lock) => Ok(lock),
            // A command says who it is; shared holders (requests) say nothing.
            Err(busy) if busy.holder.is_some() => Err(StoreError::Busy {
                what: what(),
                holder: busy.holder,
            }),
            Err(_) => Ok(RwDirLock::exclusive(dir, holder, |_| {})?),
        },
    }
}
