//! The masking engine: pure, synchronous, no I/O.
//!
//! Every masker here is a push-bytes / emit-bytes state machine ([`Masker`]): the proxy,
//! the WebSocket relay and the CLI feed it chunks as they arrive and forward what it
//! emits. Nothing here knows about tokio, hyper or sockets, so each masker can be unit
//! tested, fuzzed and benchmarked alone.
//!
//! Data flow inside the engine:
//!
//! ```text
//! bytes ─► format masker (json | text | …) ─► value ─► detect (prefilter, regex, validators)
//!                                                        │ findings (span, kind)
//!                                                        ▼
//!                               policy (role → action per kind) ─► action (token, mask, …)
//! ```
pub mod action;
pub mod csv;
pub mod detect;
pub mod error;
pub mod format;
pub mod html;
pub mod json;
pub mod kind;
pub mod memo;
pub mod plan;
pub mod policy;
pub mod record_log;
pub mod replay;
pub mod sniff;
pub mod sse;
#[cfg(test)]
pub(crate) mod testutil;
pub mod text;
pub mod token;
pub mod utf8;
pub mod value_cache;

pub use error::MaskError;

/// A streaming masker for one document.
///
/// # Contract
/// * The output does not depend on how the input is split into chunks:
///   `push(a); push(b)` emits, in total, the same bytes as `push(a ++ b)`.
/// * Output may lag input: a masker holds back what it cannot decide yet (an unfinished
///   string value, the tail of a text that may still become a phone number). What it holds
///   back is bounded by the caps of its settings, never by the document size.
/// * On error the masker is poisoned: it emits nothing more, and the caller must fail
///   closed (abort the response). Bytes emitted before the error never contain a value
///   the rules would have masked.
pub trait Masker {
    /// Feeds one chunk; appends what can be emitted to `out`.
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError>;
    /// Ends the document; appends the rest to `out`.
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError>;
    /// What was masked and served clear so far, by kind (for metrics and the audit log).
    fn counts(&self) -> Option<&text::MatchCounts> {
        None
    }
}

/// The part of a format masker that differs between formats: one step over a chunk, one
/// at the end. [`Masker`] is implemented for every `FormatSteps` with what all of them do
/// the same way: a role that sees everything in the clear gets its bytes copied, and an
/// error poisons the masker for good (nothing more is emitted; the caller fails closed).
pub trait FormatSteps {
    /// True when the role sees everything in the clear.
    fn passthrough(&self) -> bool;
    /// The poison flag.
    fn poisoned(&mut self) -> &mut bool;
    /// Masks one chunk.
    fn step(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError>;
    /// Ends the document.
    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError>;
    /// See [`Masker::counts`].
    fn step_counts(&self) -> Option<&text::MatchCounts> {
        None
    }
}

impl<T: FormatSteps> Masker for T {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        if *self.poisoned() {
            return Err(MaskError::Poisoned);
        }
        if self.passthrough() {
            out.extend_from_slice(chunk);
            return Ok(());
        }
        let r = self.step(chunk, out);
        if r.is_err() {
            *self.poisoned() = true;
        }
        r
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError> {
        if *self.poisoned() {
            return Err(MaskError::Poisoned);
        }
        if self.passthrough() {
            return Ok(());
        }
        let r = self.end(out);
        if r.is_err() {
            *self.poisoned() = true;
        }
        r
    }

    fn counts(&self) -> Option<&text::MatchCounts> {
        self.step_counts()
    }
}

/// A number unique to each compiled object of this process (detectors, role, key ring):
/// caches that outlive a response key their entries by it, so a reload never reuses
/// an entry made with the old rules or keys.
pub(crate) fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Forgets what this thread has cached across responses (number verdicts, tokens): the
/// next document is masked as one never seen. For benchmarks of cold documents.
pub fn clear_thread_caches() {
    detect::numeric::clear_thread_cache();
    text::clear_thread_cache();
    value_cache::clear_thread_cache();
    replay::clear_thread_cache();
}

/// Runs a whole document through a masker in one call (CLI, tests, small bodies).
pub fn mask_all(masker: &mut dyn Masker, input: &[u8]) -> Result<Vec<u8>, MaskError> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 8);
    masker.push(input, &mut out)?;
    masker.finish(&mut out)?;
    Ok(out)
}
