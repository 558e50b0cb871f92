//! Hits, misses and evictions of every cache, for `veil_cache_{hits,misses,evictions}_total`.
//!
//! Counted per thread in plain cells (no atomic on the hot path) and added to the process
//! totals every [`FLUSH_EVERY`] events of one counter and when a masker finishes
//! ([`flush`]), so a scrape lags a busy worker by at most that many events.
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A cache, as the metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// Tokens, hashes and masks of values (`memos.rs`).
    Tokens,
    /// Detector findings of short values (`memos.rs`).
    Findings,
    /// Replacements of values a field rule names (`memos.rs`).
    Fields,
    /// JSON string values and HTML text, raw to replaced (`values.rs`).
    Values,
    /// Whole JSON containers and CSV records (`spans.rs`).
    Spans,
    /// libphonenumber's verdicts on international digit strings (`detect/numeric.rs`).
    Numbers,
    /// The scopes a thread keeps entries for (`scope.rs`): an eviction is a scope forgotten.
    Scopes,
}

impl Cache {
    pub const ALL: [Cache; 7] = [
        Cache::Tokens,
        Cache::Findings,
        Cache::Fields,
        Cache::Values,
        Cache::Spans,
        Cache::Numbers,
        Cache::Scopes,
    ];

    /// The `cache` label.
    pub fn name(self) -> &'static str {
        match self {
            Cache::Tokens => "tokens",
            Cache::Findings => "findings",
            Cache::Fields => "fields",
            Cache::Values => "values",
            Cache::Spans => "spans",
            Cache::Numbers => "numbers",
            Cache::Scopes => "scopes",
        }
    }
}

/// What one cache counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

const HIT: usize = 0;
const MISS: usize = 1;
const EVICTION: usize = 2;
const N: usize = Cache::ALL.len();

/// Local events of one counter added to the totals at once.
const FLUSH_EVERY: u64 = 256;

static TOTALS: [[AtomicU64; 3]; N] = [const { [const { AtomicU64::new(0) }; 3] }; N];

thread_local! {
    static LOCAL: [[Cell<u64>; 3]; N] = const { [const { [const { Cell::new(0) }; 3] }; N] };
}

fn count(cache: Cache, what: usize, n: u64) {
    #[cfg(test)]
    SEEN.with(|s| {
        let c = &s[cache as usize][what];
        c.set(c.get() + n)
    });
    LOCAL.with(|l| {
        let c = &l[cache as usize][what];
        let v = c.get() + n;
        if v >= FLUSH_EVERY {
            TOTALS[cache as usize][what].fetch_add(v, Ordering::Relaxed);
            c.set(0);
        } else {
            c.set(v);
        }
    })
}

pub(crate) fn hit(cache: Cache) {
    count(cache, HIT, 1);
}

pub(crate) fn miss(cache: Cache) {
    count(cache, MISS, 1);
}

pub(crate) fn evicted(cache: Cache, n: usize) {
    if n > 0 {
        count(cache, EVICTION, n as u64);
    }
}

#[cfg(test)]
thread_local! {
    /// Everything this thread counted, never flushed (tests read their own thread's).
    static SEEN: [[Cell<u64>; 3]; N] = const { [const { [const { Cell::new(0) }; 3] }; N] };
}

/// What this thread counted for `cache` so far (tests).
#[cfg(test)]
pub(crate) fn seen(cache: Cache) -> CacheCounts {
    SEEN.with(|s| {
        let c = &s[cache as usize];
        CacheCounts {
            hits: c[HIT].get(),
            misses: c[MISS].get(),
            evictions: c[EVICTION].get(),
        }
    })
}

/// Adds this thread's counts to the process totals.
pub fn flush() {
    LOCAL.with(|l| {
        for (local, total) in l.iter().zip(&TOTALS) {
            for (c, t) in local.iter().zip(total) {
                let v = c.replace(0);
                if v > 0 {
                    t.fetch_add(v, Ordering::Relaxed);
                }
            }
        }
    })
}

/// The process totals of every cache (what every thread has flushed).
pub fn totals() -> [(Cache, CacheCounts); N] {
    Cache::ALL.map(|c| {
        let t = &TOTALS[c as usize];
        (
            c,
            CacheCounts {
                hits: t[HIT].load(Ordering::Relaxed),
                misses: t[MISS].load(Ordering::Relaxed),
                evictions: t[EVICTION].load(Ordering::Relaxed),
            },
        )
    })
}
