//! veil's engine: the rule language and the maskers it compiles to. Pure and synchronous:
//! no I/O, no async runtime, no TLS in this crate's dependency tree, so the core the
//! proxy's docs describe is one the compiler keeps that way.
//!
//! Every masker is a push-bytes / emit-bytes state machine ([`Masker`]): the proxy, the
//! WebSocket relay and the CLI feed it chunks as they arrive and forward what it emits,
//! so each masker can be unit tested, fuzzed and benchmarked alone.
//!
//! Data flow, and the folders that hold each step:
//!
//! ```text
//! rules/ (YAML ─► raw ─► compiled RuleSet) ─► vocab::plan (MaskPlan + its cache Scope)
//!                                                    │
//! bytes ─► format/ (json | html | csv | sse | text) ─► value ─► fields/ (a rule names it?)
//!                     ▲                                  │      detect/ (prefilter, regex,
//!                     │ replay / remember                │               validators)
//!                  cache/ (per-thread, keyed by Scope)   ▼ findings (span, kind)
//!                                     vocab::policy (role → action) ─► vocab::action, token
//! ```
//!
//! Dependencies point one way: the vocabulary's leaves (`vocab::{kind, action, policy,
//! counts, generation}`) ← `detect`, `fields`, `token` ← `vocab::plan` ← `cache` ← `format`;
//! `rules` compiles into all of them and nothing here imports `rules`.
pub mod cache;
pub mod detect;
pub mod error;
pub mod fields;
pub mod format;
pub mod rules;
#[cfg(test)]
pub(crate) mod testutil;
pub mod token;
pub mod vocab;

pub use cache::clear_thread_caches;
pub use error::{Cap, MaskError};
pub use format::{mask_all, FormatSteps, Masker};
pub(crate) use vocab::generation::next_generation;
