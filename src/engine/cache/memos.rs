//! Per-value caches of the value masker: tokens (and hashes), detector findings, and the
//! replacements of values a field rule names.
//!
//! A contact's number repeats in many fields of a response, and the same lists are served
//! again and again; FF1, AES-SIV and HMAC, the candidate regexes and the validators cost far
//! more than a lookup. Masking is deterministic, so a cached result is the one that would be
//! computed.
//!
//! Every entry is keyed by the masker's [`ScopeId`], a tag (kind and action for tokens,
//! kind for fields) and the value's text: the index holds a 64-bit hash of the three, and
//! the entry the three themselves, compared in full on a hit. Two roles, or a role before
//! and after a reload, keep separate entries side by side.
//!
//! # Bounds
//! Each cache keeps at most `2 ×` [`ENTRIES`] entries ([`Memo`]) of values up to
//! [`MAX_LEN`] bytes, a findings entry at most [`MAX_FINDINGS`] findings. Like the worker's buffers, they hold values this thread has just
//! masked, clear and masked (docs/threat-model.md); [`retire`](super::scope::retire)
//! drops them when rules or keys are replaced.
use super::memo::Memo;
use super::scope::ScopeId;
use super::stats::Cache;
use crate::detect::Finding;
use rustc_hash::FxHasher;
use std::cell::RefCell;
use std::hash::Hasher;

/// Longest value cached.
pub const MAX_LEN: usize = 256;
/// Most findings one cached value may hold (a value with more is scanned each time): so
/// that an entry, and the cache, stay bounded by a figure, whatever customers write.
pub const MAX_FINDINGS: usize = 4;
/// Entries per generation, per cache.
pub const ENTRIES: usize = 16384;

struct Entry<V> {
    scope: ScopeId,
    tag: u32,
    text: Box<str>,
    value: V,
}

type Index<V> = RefCell<Memo<u64, Entry<V>>>;

thread_local! {
    static TOKENS: Index<Box<str>> = RefCell::new(Memo::new(ENTRIES, Cache::Tokens));
    static FINDINGS: Index<Box<[Finding]>> = RefCell::new(Memo::new(ENTRIES, Cache::Findings));
    static FIELDS: Index<Box<str>> = RefCell::new(Memo::new(ENTRIES, Cache::Fields));
}

fn key(scope: ScopeId, tag: u32, text: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write_u64(scope.get());
    h.write_u32(tag);
    h.write(text.as_bytes());
    h.finish()
}

fn get<V, R>(
    index: &'static std::thread::LocalKey<Index<V>>,
    scope: ScopeId,
    tag: u32,
    text: &str,
    f: impl FnOnce(&V) -> R,
) -> Option<R> {
    index.with(|m| {
        m.borrow_mut().get_with(&key(scope, tag, text), |e| {
            (e.scope == scope && e.tag == tag && *e.text == *text).then(|| f(&e.value))
        })
    })
}

fn put<V>(
    index: &'static std::thread::LocalKey<Index<V>>,
    scope: ScopeId,
    tag: u32,
    text: &str,
    value: V,
) {
    if text.len() > MAX_LEN {
        return;
    }
    let entry = Entry {
        scope,
        tag,
        text: text.into(),
        value,
    };
    index.with(|m| m.borrow_mut().insert(key(scope, tag, text), entry));
}

/// The tag of a token or hash of one kind.
pub fn token_tag(kind: crate::vocab::kind::KindId, hash: bool) -> u32 {
    u32::from(kind.0) << 1 | u32::from(hash)
}

/// Appends the cached token (or hash) of `normalized` with this tag, if there is one.
pub fn replay_token(scope: ScopeId, tag: u32, normalized: &str, out: &mut String) -> bool {
    get(&TOKENS, scope, tag, normalized, |t| out.push_str(t)).is_some()
}

pub fn remember_token(scope: ScopeId, tag: u32, normalized: &str, token: &str) {
    put(&TOKENS, scope, tag, normalized, token.into());
}

/// Appends the cached findings of `text`, if there are any.
pub fn replay_findings(scope: ScopeId, text: &str, out: &mut Vec<Finding>) -> bool {
    get(&FINDINGS, scope, 0, text, |f| out.extend(f.iter().cloned())).is_some()
}

pub fn remember_findings(scope: ScopeId, text: &str, found: &[Finding]) {
    if text.len() <= MAX_LEN && found.len() <= MAX_FINDINGS {
        put(&FINDINGS, scope, 0, text, found.into());
    }
}

/// Appends the cached replacement of a field's `value` of kind `tag`, if there is one.
pub fn replay_field(scope: ScopeId, tag: u32, value: &str, out: &mut String) -> bool {
    get(&FIELDS, scope, tag, value, |d| out.push_str(d)).is_some()
}

pub fn remember_field(scope: ScopeId, tag: u32, value: &str, done: &str) {
    put(&FIELDS, scope, tag, value, done.into());
}

/// Forgets this thread's entries.
pub(crate) fn clear_thread_cache() {
    TOKENS.with(|c| c.borrow_mut().clear());
    FINDINGS.with(|c| c.borrow_mut().clear());
    FIELDS.with(|c| c.borrow_mut().clear());
}
