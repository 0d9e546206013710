//! Property pages kept as rendered, so that asking again for a page nothing changed
//! costs a lookup instead of rendering every action's card.
//!
//! A page is reused only for the same folded state (the very `Arc` the snapshot
//! handed out, which is replaced whenever an event is applied or the baseline
//! changes), the same property and URL prefix, status filter, day and caller (whose
//! name the header shows). Searches are not kept: their words are many and rarely
//! asked twice. A property's pages of an older state are dropped when a page of a
//! newer one is kept (a state, once replaced, never comes back), so the cache holds on
//! to at most one folded state per property. The pages kept are bounded by their total
//! size; past it, the cache starts afresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use jiff::civil::Date;

use crate::domain::{ActionState, Status};
use crate::property::Slug;

/// Bytes of rendered pages kept at most.
pub const MAX_BYTES: usize = 32 << 20;

/// What a property page's HTML depends on besides the state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The property.
    pub slug: Slug,
    /// Its URL prefix (`""` or `/p/{slug}`).
    pub base: String,
    /// The status filter.
    pub filter: Option<Status>,
    /// Today, in the portal's zone (what is overdue).
    pub today: Date,
    /// Who asks (shown in the header).
    pub caller: String,
}

#[derive(Debug)]
struct Page {
    state: Arc<Vec<ActionState>>,
    html: Bytes,
}

#[derive(Debug, Default)]
struct Inner {
    pages: HashMap<PageKey, Page>,
    bytes: usize,
}

/// Rendered property pages, shared by request handlers.
#[derive(Debug, Default)]
pub struct RenderedPages {
    inner: Mutex<Inner>,
}

impl RenderedPages {
    /// The page for `key` if it was rendered from `state` itself.
    pub fn get(&self, key: &PageKey, state: &Arc<Vec<ActionState>>) -> Option<Bytes> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .pages
            .get(key)
            .filter(|p| Arc::ptr_eq(&p.state, state))
            .map(|p| p.html.clone())
    }

    /// Keeps `html`, rendered for `key` from `state`.
    pub fn put(&self, key: PageKey, state: Arc<Vec<ActionState>>, html: Bytes) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if html.len() > MAX_BYTES / 4 {
            return;
        }
        // Pages of this property rendered from another state will never be asked
        // for again: let that state go.
        inner
            .pages
            .retain(|k, p| k.slug != key.slug || Arc::ptr_eq(&p.state, &state));
        inner.bytes = inner.pages.values().map(|p| p.html.len()).sum();
        if inner.bytes + html.len() > MAX_BYTES {
            inner.pages.clear();
            inner.bytes = 0;
        }
        inner.bytes += html.len();
        if let Some(old) = inner.pages.insert(key, Page { state, html }) {
            inner.bytes -= old.html.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(caller: &str) -> PageKey {
        PageKey {
            slug: Slug::parse("p").unwrap(),
            base: String::new(),
            filter: None,
            today: jiff::civil::date(2026, 11, 24),
            caller: caller.into(),
        }
    }

    #[test]
    fn a_page_is_reused_only_for_the_same_state_and_key() {
        let pages = RenderedPages::default();
        let state = Arc::new(Vec::new());
        pages.put(key("kim"), Arc::clone(&state), Bytes::from_static(b"kim's"));
        assert_eq!(
            pages.get(&key("kim"), &state).as_deref(),
            Some(&b"kim's"[..])
        );
        assert_eq!(pages.get(&key("lee"), &state), None, "another caller");
        let later = Arc::new(Vec::new());
        assert_eq!(
            pages.get(&key("kim"), &later),
            None,
            "an equal but newer state"
        );
        let tomorrow = PageKey {
            today: jiff::civil::date(2026, 11, 25),
            ..key("kim")
        };
        assert_eq!(pages.get(&tomorrow, &state), None, "another day");
    }

    #[test]
    fn a_newer_state_lets_the_older_pages_of_its_property_go() {
        let pages = RenderedPages::default();
        let old = Arc::new(Vec::new());
        pages.put(key("kim"), Arc::clone(&old), Bytes::from_static(b"old kim"));
        pages.put(key("lee"), Arc::clone(&old), Bytes::from_static(b"old lee"));
        let other = PageKey {
            slug: Slug::parse("q").unwrap(),
            ..key("kim")
        };
        pages.put(other.clone(), Arc::clone(&old), Bytes::from_static(b"q"));
        let new = Arc::new(Vec::new());
        pages.put(key("kim"), Arc::clone(&new), Bytes::from_static(b"new kim"));
        assert_eq!(
            Arc::strong_count(&old),
            2,
            "held by the other property's page only"
        );
        assert_eq!(pages.get(&key("lee"), &old), None);
        assert!(pages.get(&other, &old).is_some());
        let inner = pages.inner.lock().unwrap();
        assert_eq!(inner.pages.len(), 2);
        assert_eq!(inner.bytes, b"new kim".len() + b"q".len());
    }

    #[test]
    fn the_pages_kept_are_bounded_by_size() {
        let pages = RenderedPages::default();
        let state = Arc::new(Vec::new());
        let big = Bytes::from(vec![b'x'; MAX_BYTES / 5]);
        for i in 0..20 {
            pages.put(key(&format!("u{i}")), Arc::clone(&state), big.clone());
            let inner = pages.inner.lock().unwrap();
            assert!(inner.bytes <= MAX_BYTES);
            assert_eq!(
                inner.bytes,
                inner.pages.values().map(|p| p.html.len()).sum::<usize>()
            );
        }
        let huge = Bytes::from(vec![b'x'; MAX_BYTES / 2]);
        pages.put(key("huge"), Arc::clone(&state), huge);
        assert_eq!(pages.get(&key("huge"), &state), None, "too big to keep");
    }
}
