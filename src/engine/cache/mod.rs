//! The per-thread caches that outlive a response. See [`scope`] for what every entry is
//! keyed by.
pub mod memo;
pub mod record_log;
pub mod spans;
pub mod values;

/// Forgets what this thread has cached across responses (number verdicts, tokens): the
/// next document is masked as one never seen. For benchmarks of cold documents.
pub fn clear_thread_caches() {
    crate::detect::numeric::clear_thread_cache();
    crate::format::text::clear_thread_cache();
    values::clear_thread_cache();
    spans::clear_thread_cache();
}
