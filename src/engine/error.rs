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
    #[error("{} exceeds its cap of {limit}", cap.describe())]
    CapExceeded { cap: Cap, limit: usize },
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

/// Which cap fired: every buffer a masker keeps is bounded by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    JsonValue,
    JsonNumber,
    JsonDepth,
    JsonSubtree,
    CsvRecord,
    HtmlText,
    SseEvent,
    /// The response's memory budget (`limits.max_memory`): every buffer of its masker.
    Memory,
}

impl Cap {
    /// What went over, for a log line.
    pub fn describe(self) -> &'static str {
        match self {
            Cap::JsonValue => "a JSON string",
            Cap::JsonNumber => "a JSON number",
            Cap::JsonDepth => "the JSON nesting depth",
            Cap::JsonSubtree => "a JSON subtree buffered for a filter",
            Cap::CsvRecord => "a CSV record",
            Cap::HtmlText => "an HTML text node, attribute or comment",
            Cap::SseEvent => "an SSE event",
            Cap::Memory => "the memory the response's masker holds",
        }
    }
}

impl MaskError {
    /// A short, stable label for metrics and logs (`cap_exceeded:json_value`).
    pub fn reason(&self) -> &'static str {
        match self {
            MaskError::Malformed { .. } => "malformed_body",
            MaskError::CapExceeded { cap, .. } => match cap {
                Cap::JsonValue => "cap_exceeded:json_value",
                Cap::JsonNumber => "cap_exceeded:json_number",
                Cap::JsonDepth => "cap_exceeded:json_depth",
                Cap::JsonSubtree => "cap_exceeded:json_subtree",
                Cap::CsvRecord => "cap_exceeded:csv_record",
                Cap::HtmlText => "cap_exceeded:html_text",
                Cap::SseEvent => "cap_exceeded:sse_event",
                Cap::Memory => "cap_exceeded:memory",
            },
            MaskError::Truncated { .. } => "truncated_body",
            MaskError::Rewriter { .. } => "rewriter_error",
            MaskError::Poisoned => "poisoned",
        }
    }
}
