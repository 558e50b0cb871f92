//! veil: a streaming PII-masking reverse proxy for customer inboxes.
//!
//! The crate is layered so that dependencies point down only:
//!
//! * [`engine`]: pure, synchronous maskers (push bytes in, get bytes out), the
//!   detectors and the actions. No I/O, no async runtime.
//! * [`rules`]: the rule language, parsed from YAML and compiled once into an
//!   immutable [`rules::RuleSet`].
//! * [`cli`]: the `veil` commands, thin edges around the two above.
pub mod audit;
pub mod bodies;
pub mod cli;
pub mod demo;
pub mod metrics;
pub mod proxy;
pub mod roles;
pub mod server;
pub mod upstream;

/// The engine crate (src/engine): rules and maskers, pure and synchronous.
pub use veil_engine as engine;
/// The rule language (part of the engine crate).
pub use veil_engine::rules;
