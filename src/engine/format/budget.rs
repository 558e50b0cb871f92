//! One memory budget per response: every buffer a masker keeps (a value, its decoded copy
//! and offset map, its replacement, a subtree buffered for a filter and its parsed form)
//! is charged against one figure, [`Limits::max_memory`], as lol-html charges its
//! buffers to one shared limiter. The per-value caps bound each buffer; the budget bounds
//! their sum, which the caps alone would let multiply (a 1 MiB escaped string costs its
//! raw bytes, its decoded copy, a 4-byte offset per byte and its replacement).
//!
//! A masker reports what it holds (`held`, buffer capacities) and charges what it is about
//! to allocate before it does; going over fails closed
//! ([`Cap::Memory`](crate::error::Cap::Memory)). After a value larger than [`KEEP`] bytes,
//! its buffers are shrunk back, so one large value's peak is not held for the rest of a
//! long response.
use crate::error::{Cap, MaskError};
use crate::vocab::plan::Limits;

/// Buffer capacity kept between values; more is released once a value is done.
pub const KEEP: usize = 64 << 10;

/// See the module docs.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    limit: usize,
}

impl Budget {
    pub fn of(limits: Limits) -> Budget {
        Budget {
            limit: limits.max_memory,
        }
    }

    /// What is left of a budget when `held` bytes are taken (a sub-masker's budget).
    pub fn rest(self, held: usize) -> Budget {
        Budget {
            limit: self.limit.saturating_sub(held),
        }
    }

    /// Fails when `held` bytes plus `more` about to be allocated go over the budget.
    pub fn charge(self, held: usize, more: usize) -> Result<(), MaskError> {
        if held.saturating_add(more) > self.limit {
            return Err(MaskError::CapExceeded {
                cap: Cap::Memory,
                limit: self.limit,
            });
        }
        Ok(())
    }
}

/// Bytes a vector's buffer holds.
pub fn bytes_of<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

/// Shrinks a buffer that grew past [`KEEP`] bytes for one large value.
pub fn release<T>(v: &mut Vec<T>) {
    if bytes_of(v) > KEEP {
        v.clear();
        v.shrink_to(KEEP / std::mem::size_of::<T>().max(1));
    }
}

/// [`release`] for a string.
pub fn release_string(s: &mut String) {
    if s.capacity() > KEEP {
        s.clear();
        s.shrink_to(KEEP);
    }
}
