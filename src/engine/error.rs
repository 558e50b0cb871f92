//! Errors a masker can return. Each one means: stop, emit nothing more, fail closed.

/// Why a masker stopped. The caller maps these to a status, an abort and a metric label
/// in one place ([`MaskError::reason`]).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaskError {
    /// The bytes are not a document of the expected format.
    #[error("malformed {format} at byte {offset}: {reason}")]
    Malformed {
        format: &'static str,
        offset: u64,
        reason: &'static str,
    },
    /// A value, subtree, nesting depth or buffer went over its configured cap.
    #[error("{what} exceeds its cap of {cap} bytes")]
    CapExceeded { what: &'static str, cap: usize },
    /// The document ended in the middle of a value.
    #[error("{format} document ended early")]
    Truncated { format: &'static str },
    /// A parser under the masker refused the document (the HTML rewriter met markup it
    /// cannot tokenize unambiguously, or went over its memory limit). Never recovered from
    /// by passing the rest through.
    #[error("{format} rewriter failed: {reason}")]
    Rewriter {
        format: &'static str,
        reason: String,
    },
    /// The masker was used after an earlier error.
    #[error("masker used after an error")]
    Poisoned,
}

impl MaskError {
    /// A short, stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            MaskError::Malformed { .. } => "malformed_body",
            MaskError::CapExceeded { .. } => "cap_exceeded",
            MaskError::Truncated { .. } => "truncated_body",
            MaskError::Rewriter { .. } => "rewriter_error",
            MaskError::Poisoned => "poisoned",
        }
    }
}
