//! A small least-recently-used map for the per-isolate caches (assumed-role credentials,
//! inference profiles): an isolate serves many callers for hours, so nothing it keeps per caller
//! may grow without bound.
//!
//! Eviction scans for the oldest entry (O(n)); caches hold a few hundred entries at most
//! (`limits::MAX_CACHED_*`), and a scan happens only when a new key arrives at capacity, which is
//! cheaper than keeping a linked list in step.

use std::collections::HashMap;

pub struct Lru<V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (V, u64)>,
}

impl<V> Lru<V> {
    pub fn new(capacity: usize) -> Self {
        Lru {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    fn touch(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }

    /// The entry for `key`, marked as just used.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let now = self.touch();
        self.entries.get_mut(key).map(|(v, used)| {
            *used = now;
            v
        })
    }

    /// The entry for `key`, created with `make` when absent (evicting the least recently used
    /// entry when full).
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        if !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
            self.evict_oldest();
        }
        let now = self.touch();
        let entry = self
            .entries
            .entry(key.to_owned())
            .or_insert_with(|| (make(), now));
        entry.1 = now;
        &mut entry.0
    }

    pub fn insert(&mut self, key: &str, value: V) {
        let now = self.touch();
        if !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
            self.evict_oldest();
        }
        self.entries.insert(key.to_owned(), (value, now));
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.entries.remove(key).map(|(v, _)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self
            .entries
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(2);
        lru.insert("a", 1);
        lru.insert("b", 2);
        assert_eq!(lru.get_mut("a").copied(), Some(1));
        lru.insert("c", 3);
        assert_eq!(lru.len(), 2);
        assert!(lru.get_mut("b").is_none(), "b was the least recently used");
        *lru.get_or_insert_with("d", || 4) += 1;
        assert_eq!(lru.get_mut("d").copied(), Some(5));
        assert!(lru.get_mut("a").is_none());
        assert_eq!(lru.remove("c"), Some(3));
        assert_eq!(lru.len(), 1);
    }

    #[test]
    fn stays_bounded_under_many_keys() {
        let mut lru = Lru::new(16);
        for i in 0..10_000 {
            lru.insert(&i.to_string(), i);
        }
        assert_eq!(lru.len(), 16);
        assert_eq!(lru.get_mut("9999").copied(), Some(9999));
    }
}
