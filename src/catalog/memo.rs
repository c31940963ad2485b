//! What an isolate remembers of the catalog between requests: gateway key records and opened
//! provider records, each for at most the operator's `CATALOG_CACHE_TTL_MS` (default
//! [`crate::limits::DEFAULT_CATALOG_CACHE_TTL_MS`]), so a warm isolate serves the catalog path
//! without a KV read, an AES-GCM open or a JSON parse.
//!
//! Only records that were found are kept: an unknown key or slug asks KV every time (a flood of
//! made-up keys cannot evict the real ones, and a record created a moment ago is seen at once). A
//! disabled, narrowed or removed key, or a rotated provider record, takes effect on a warm
//! isolate within the TTL (plus KV's own propagation between locations, up to 60 s).

use std::cell::RefCell;
use std::rc::Rc;

use crate::lru::Lru;

/// Records of one kind by their KV key, each with the time it was read.
pub struct Memo<T> {
    entries: RefCell<Lru<(Rc<T>, u64)>>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo {
            entries: RefCell::new(Lru::new(crate::limits::MAX_CACHED_RECORDS)),
        }
    }
}

impl<T> Memo<T> {
    /// The record read for `key` less than `ttl_ms` before `now` (ms since the epoch).
    pub fn get(&self, key: &str, now: u64, ttl_ms: u64) -> Option<Rc<T>> {
        let mut entries = self.entries.borrow_mut();
        let (value, read_at) = entries.get_mut(key)?;
        if now.saturating_sub(*read_at) < ttl_ms && *read_at <= now {
            return Some(value.clone());
        }
        entries.remove(key);
        None
    }

    /// Remembers `value`, read from KV at `now`. With a TTL of 0 nothing is kept.
    pub fn put(&self, key: &str, value: Rc<T>, now: u64, ttl_ms: u64) {
        if ttl_ms > 0 {
            self.entries.borrow_mut().insert(key, (value, now));
        }
    }

    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let memo = Memo::<u32>::default();
        memo.put("a", Rc::new(1), 1_000, 30_000);
        assert_eq!(memo.get("a", 1_000, 30_000).as_deref(), Some(&1));
        assert_eq!(memo.get("a", 30_999, 30_000).as_deref(), Some(&1));
        assert_eq!(memo.get("a", 31_000, 30_000), None);
        // Expired entries are dropped, not kept around.
        assert!(memo.is_empty());
    }

    #[test]
    fn a_clock_going_backwards_does_not_extend_an_entry() {
        let memo = Memo::<u32>::default();
        memo.put("a", Rc::new(1), 50_000, 30_000);
        assert_eq!(memo.get("a", 10_000, 30_000), None);
    }

    #[test]
    fn ttl_zero_keeps_nothing() {
        let memo = Memo::<u32>::default();
        memo.put("a", Rc::new(1), 1_000, 0);
        assert!(memo.is_empty());
        assert_eq!(memo.get("a", 1_000, 0), None);
    }

    #[test]
    fn bounded() {
        let memo = Memo::<usize>::default();
        for i in 0..crate::limits::MAX_CACHED_RECORDS + 50 {
            memo.put(&format!("k{i}"), Rc::new(i), 1, 30_000);
        }
        assert_eq!(memo.len(), crate::limits::MAX_CACHED_RECORDS);
    }
}
