//! A bounded memo for the per-thread caches that outlive a response (number verdicts,
//! tokens, findings, field replacements; the JSON value cache applies the same policy to
//! a log, `value_cache.rs`).
//!
//! Two generations: entries go into `new`; when it is full, the previous `old` is emptied
//! (its table kept) and the two swap. A hit in `old` moves the entry back into `new`.
//! Whatever is used at least once per `cap` insertions stays, so a working set up to `cap`
//! entries never thrashes (a single map cleared when full would drop it all on every
//! large response), and memory stays under `2 × cap` entries.
use super::stats::{self, Cache};
use rustc_hash::FxHashMap;
use std::borrow::Borrow;
use std::hash::Hash;

pub struct Memo<K, V> {
    new: FxHashMap<K, V>,
    old: FxHashMap<K, V>,
    cap: usize,
    /// Whose hits, misses and evictions these are.
    cache: Cache,
}

impl<K: Hash + Eq, V> Memo<K, V> {
    pub fn new(cap: usize, cache: Cache) -> Self {
        Memo {
            new: FxHashMap::default(),
            old: FxHashMap::default(),
            cap,
            cache,
        }
    }

    /// Calls `f` on the entry of `key`, if there is one and `f` accepts it (returns
    /// `Some`): a hit. (A closure rather than a returned reference: a hit in `new` then
    /// costs one hash lookup, not two.)
    pub fn get_with<Q, R>(&mut self, key: &Q, f: impl FnOnce(&V) -> Option<R>) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let r = self.lookup(key, f);
        if r.is_some() {
            stats::hit(self.cache);
        } else {
            stats::miss(self.cache);
        }
        r
    }

    fn lookup<Q, R>(&mut self, key: &Q, f: impl FnOnce(&V) -> Option<R>) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(v) = self.new.get(key) {
            return f(v);
        }
        let (k, v) = self.old.remove_entry(key)?;
        let r = f(&v)?;
        self.rotate_if_full();
        self.new.insert(k, v);
        Some(r)
    }

    pub fn insert(&mut self, key: K, value: V) {
        self.rotate_if_full();
        self.new.insert(key, value);
    }

    pub fn clear(&mut self) {
        self.new.clear();
        self.old.clear();
    }

    pub fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn rotate_if_full(&mut self) {
        if self.new.len() >= self.cap {
            // The old generation's table is emptied and reused: a fresh one would grow
            // again, rehashing, on the hot path.
            std::mem::swap(&mut self.new, &mut self.old);
            stats::evicted(self.cache, self.new.len());
            self.new.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_working_set_within_the_cap_survives_and_memory_is_bounded() {
        let mut m = Memo::new(4, Cache::Tokens);
        for round in 0..10 {
            for k in 0..4 {
                if m.get_with(&k, |_| Some(())).is_none() {
                    assert_eq!(round, 0, "key {k} was dropped in round {round}");
                    m.insert(k, k * 10);
                }
            }
            // One-off keys between rounds do not push the working set out.
            m.insert(100 + round, 0);
            assert!(m.len() <= 8);
        }
        assert_eq!(m.get_with(&3, |v| Some(*v)), Some(30));
        m.clear();
        assert!(m.is_empty());
    }
}
