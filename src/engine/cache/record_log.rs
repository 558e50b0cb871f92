//! A bounded log of byte records with a hash index: the storage of the per-thread caches
//! whose entries are byte strings (JSON string values and HTML text, `value_cache.rs`; JSON subtrees,
//! `json/subtree.rs`).
//!
//! # Why a log
//! A lookup is bound by memory latency, not by hashing: the response streaming through
//! evicts the cache from the core's caches between two lookups. So records are appended to
//! a byte log in the order they were first seen, and the hash index only maps a 32-bit
//! hash to a record's offset (8 bytes a slot, small enough to stay cached). A document
//! masked again (the common case: every agent loads the same lists, every refresh) then
//! reads the log front to back, which the hardware prefetcher follows; a hash table of
//! boxed entries cost two cache misses per value instead.
//!
//! # Bounds
//! Two generations, [`Memo`](crate::cache::memo::Memo)'s policy with a byte cap too: records go
//! into `new`; when it holds `entries` records or `bytes` bytes, it becomes `old` and the
//! previous `old` is emptied (its buffers reused). A hit in `old` is copied into `new`, so
//! a working set within the caps survives large responses, and memory stays under twice
//! the caps.
//!
//! # Scopes
//! What a record means depends on the rules and keys it was made with: each cache writes
//! its masker's [`ScopeId`](super::scope::ScopeId) into the record and compares it on a hit.
use super::stats::{self, Cache};
use rustc_hash::FxHashMap;

/// Bytes before each record's payload: its length (u32, little endian).
const LEN: usize = 4;

/// One generation: records in the order they were added, and where each one starts.
struct Generation {
    index: FxHashMap<u32, u32>,
    log: Vec<u8>,
}

impl Generation {
    const fn new() -> Self {
        Generation {
            index: FxHashMap::with_hasher(rustc_hash::FxBuildHasher),
            log: Vec::new(),
        }
    }

    /// The payload of the record at `at`.
    fn payload(&self, at: usize) -> &[u8] {
        let len = u32::from_le_bytes(self.log[at..at + LEN].try_into().expect("4 bytes"));
        &self.log[at + LEN..at + LEN + len as usize]
    }

    fn find(&self, hash: u32, matches: impl Fn(&[u8]) -> bool) -> Option<usize> {
        let at = *self.index.get(&hash)? as usize;
        matches(self.payload(at)).then_some(at)
    }

    fn clear(&mut self) {
        self.index.clear();
        self.log.clear();
    }
}

/// See the module docs.
pub struct RecordLog {
    new: Generation,
    old: Generation,
    /// Whose hits, misses and evictions these are.
    cache: Cache,
    /// Records per generation.
    entries: usize,
    /// Log bytes per generation (a record may overrun it once).
    bytes: usize,
    /// Scratch for a record moved from `old` to `new`.
    moved: Vec<u8>,
}

impl RecordLog {
    pub const fn new(entries: usize, bytes: usize, cache: Cache) -> Self {
        RecordLog {
            new: Generation::new(),
            old: Generation::new(),
            cache,
            entries,
            bytes,
            moved: Vec::new(),
        }
    }

    /// Calls `f` on the payload of the record indexed by `hash` if `matches` accepts it
    /// (a record found in `old` is moved into `new` first). Returns whether it did.
    pub fn get(
        &mut self,
        hash: u32,
        matches: impl Fn(&[u8]) -> bool,
        f: impl FnOnce(&[u8]),
    ) -> bool {
        if let Some(at) = self.new.find(hash, &matches) {
            f(self.new.payload(at));
            stats::hit(self.cache);
            return true;
        }
        let Some(at) = self.old.find(hash, &matches) else {
            stats::miss(self.cache);
            return false;
        };
        stats::hit(self.cache);
        let mut moved = std::mem::take(&mut self.moved);
        moved.clear();
        moved.extend_from_slice(self.old.payload(at));
        f(&moved);
        self.insert(hash, moved.len(), |log| log.extend_from_slice(&moved));
        self.moved = moved;
        true
    }

    /// Appends a record of `len` bytes, written by `write` at the end of the log, and
    /// indexes it under `hash`.
    pub fn insert(&mut self, hash: u32, len: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let Ok(len32) = u32::try_from(len) else {
            return;
        };
        if self.new.index.len() >= self.entries || self.new.log.len() >= self.bytes {
            std::mem::swap(&mut self.new, &mut self.old);
            stats::evicted(self.cache, self.new.index.len());
            self.new.clear();
        }
        let g = &mut self.new;
        let need = LEN + len;
        if g.log.capacity() - g.log.len() < need {
            // Doubling, but never past what a generation holds before it is full.
            let want = (g.log.capacity() * 2).clamp(g.log.len() + need, self.bytes + need);
            g.log.reserve_exact(want - g.log.len());
        }
        let at = g.log.len();
        g.log.extend_from_slice(&len32.to_le_bytes());
        write(&mut g.log);
        assert_eq!(g.log.len(), at + need, "a record is as long as announced");
        g.index.insert(hash, at as u32);
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        self.new.clear();
        self.old.clear();
    }

    /// Records and log capacity of each generation (tests of the bounds).
    #[cfg(test)]
    pub fn sizes(&self) -> [(usize, usize); 2] {
        [
            (self.new.index.len(), self.new.log.capacity()),
            (self.old.index.len(), self.old.log.capacity()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> RecordLog {
        RecordLog::new(8, 1 << 10, Cache::Values)
    }

    fn put(l: &mut RecordLog, hash: u32, parts: &[&[u8]]) {
        let len = parts.iter().map(|p| p.len()).sum();
        l.insert(hash, len, |log| {
            parts.iter().for_each(|p| log.extend_from_slice(p))
        });
    }

    fn get(l: &mut RecordLog, hash: u32, want: &[u8]) -> Option<Vec<u8>> {
        let mut got = None;
        l.get(hash, |p| p.starts_with(want), |p| got = Some(p.to_vec()));
        got
    }

    #[test]
    fn records_are_found_by_hash_and_checked_by_the_caller() {
        let mut l = log();
        put(&mut l, 7, &[b"ab", b"cd"]);
        assert_eq!(get(&mut l, 7, b"ab").as_deref(), Some(&b"abcd"[..]));
        // Same hash, other bytes: the caller's check says no.
        assert_eq!(get(&mut l, 7, b"x"), None);
        assert_eq!(get(&mut l, 8, b"ab"), None);
    }

    #[test]
    fn a_working_set_survives_rotation_and_memory_is_bounded() {
        let mut l = log();
        for i in 0..4u32 {
            put(&mut l, i, &[&i.to_le_bytes()]);
        }
        for round in 0..10u32 {
            // Four one-off records between two uses of the working set: it stays.
            for k in 0..4u32 {
                let h = 1000 + round * 4 + k;
                put(&mut l, h, &[&h.to_le_bytes()]);
            }
            for i in 0..4u32 {
                assert!(get(&mut l, i, &i.to_le_bytes()).is_some(), "{i} dropped");
            }
        }
        for (entries, bytes) in l.sizes() {
            assert!(entries <= 8 && bytes <= 2 << 10);
        }
    }

    #[test]
    fn the_log_rotates_at_its_byte_cap_and_the_latest_records_stay_whole() {
        let mut l = RecordLog::new(1 << 20, 1 << 12, Cache::Values);
        let rec = vec![b'x'; 1000];
        for i in 0..40u32 {
            put(&mut l, i, &[&i.to_le_bytes(), &rec]);
        }
        for (_, bytes) in l.sizes() {
            assert!(bytes <= (1 << 12) + 1100, "{bytes}");
        }
        let last = get(&mut l, 39, &39u32.to_le_bytes()).unwrap();
        assert_eq!(last.len(), 1004);
        assert_eq!(get(&mut l, 0, &0u32.to_le_bytes()), None);
    }
}
