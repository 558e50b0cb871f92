//! The per-thread caches that outlive a response, and the one identity they share.
//!
//! An inbox serves the same contacts, conversations and pages over and over, so most values
//! a masker meets were masked moments ago on the same thread. Five caches replay what was
//! done instead of doing it again:
//!
//! | cache | holds | file |
//! |---|---|---|
//! | tokens | a value's token or hash | [`memos`] |
//! | findings | what the detectors found in a short value | [`memos`] |
//! | fields | the replacement of a value a field rule names | [`memos`] |
//! | values | a JSON string or HTML text, raw to replaced | [`values`] |
//! | spans | a JSON container or CSV record, raw to masked | [`spans`] |
//!
//! # One identity
//! What a cached result means depends on the rules, role, keys, field rules and settings it
//! was made with. A plan computes all of that once, as a private
//! [`Scope`](crate::vocab::plan::Scope); a masker turns it into a [`ScopeId`](scope::ScopeId)
//! when it is made, and every cache takes that id and nothing else. No cache assembles its
//! own key from parts of a plan, so none can forget a part. (The alternative, caches hung
//! off the compiled objects as regex keeps its pool inside `meta::Regex`, would need a
//! lock or a thread map per object; a thread-local cache keyed by an id needs neither.)
//!
//! The one cache without a scope is libphonenumber's verdict on a digit string
//! (`detect/numeric.rs`, [`stats::Cache::Numbers`]): it depends on the digits and the
//! metadata compiled into the binary only.
//!
//! # Bounds
//! Per worker thread, at most (memo entries: values of at most [`memos::MAX_LEN`] bytes,
//! at most [`memos::MAX_FINDINGS`] findings of about 80 bytes each):
//!
//! | cache | entries | bytes, worst case |
//! |---|---|---|
//! | tokens | 2 × 16,384 | × (256 B value + ~60 B token + ~80 B overhead) ≈ 13 MiB |
//! | findings | 2 × 16,384 | × (256 B + 4 × 80 B + ~80 B) ≈ 21 MiB |
//! | fields | 2 × 16,384 | × (256 B + ~300 B replacement + ~80 B) ≈ 20 MiB |
//! | values | 2 × 16,384 | 2 × (4 MiB log + 0.25 MiB index) ≈ 8.5 MiB |
//! | spans | 2 × 16,384 | 2 × (8 MiB log + 0.25 MiB index) ≈ 16.5 MiB |
//!
//! About 80 MiB per worker in the worst case; typical inbox traffic (values of 10 to 60
//! bytes) keeps the memos near 10 MiB and the whole near 25 MiB per worker. They hold clear values this thread has just masked; they
//! are dropped when rules or keys are replaced ([`scope::retire`]) and by
//! [`clear_thread_caches`].
pub mod memo;
pub mod memos;
pub mod record_log;
pub mod scope;
pub mod spans;
pub mod stats;
pub mod values;

/// Forgets what this thread has cached across responses (tokens, findings, values, spans,
/// number verdicts): the next document is masked as one never seen. For benchmarks of cold
/// documents, tests, and [`scope::retire`].
pub fn clear_thread_caches() {
    crate::detect::numeric::clear_thread_cache();
    memos::clear_thread_cache();
    values::clear_thread_cache();
    spans::clear_thread_cache();
    scope::clear_thread_table();
}

#[cfg(test)]
mod tests;
