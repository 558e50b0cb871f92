//! The vocabulary the rules and the maskers share: kinds of PII, what a role does with
//! each ([`policy`], [`action`]), what was found ([`counts`]), and the [`plan`] one
//! document is masked with.
pub mod action;
pub mod counts;
pub mod generation;
pub mod kind;
pub mod plan;
pub mod policy;
