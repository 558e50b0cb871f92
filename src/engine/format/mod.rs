//! Which masker a document needs, from its content type.
use crate::format::csv::CsvMasker;
use crate::format::html::HtmlMasker;
use crate::format::json::JsonMasker;
use crate::format::sse::SseMasker;
use crate::format::text::TextMasker;
use crate::vocab::plan::MaskPlan;

use crate::error::MaskError;
use crate::vocab::counts::MatchCounts;

pub mod budget;
pub mod csv;
pub mod html;
pub mod json;
pub mod sniff;
pub mod sse;
pub mod text;
pub mod utf8;

/// A document format veil can mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Html,
    Csv,
    /// Server-Sent Events (`text/event-stream`).
    Sse,
    Text,
}

impl Format {
    /// The format of a `Content-Type` value; `None` when veil has no masker for it
    /// (the route's `on_unknown` policy decides: scan as text, or block).
    pub fn from_content_type(ct: &str) -> Option<Format> {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let (ty, sub) = mime.split_once('/')?;
        Some(match (ty, sub) {
            (_, "json") => Format::Json,
            // Scripts are not JSON: the JSON masker would refuse them and break the page.
            (_, "javascript" | "ecmascript") => Format::Text,
            (_, s) if s.ends_with("+json") || s == "x-ndjson" || s == "jsonl" => Format::Json,
            ("text", "html") | ("application", "xhtml+xml") => Format::Html,
            ("text", "csv") | ("text", "tab-separated-values") => Format::Csv,
            ("text", "event-stream") => Format::Sse,
            ("text", _) => Format::Text,
            ("application", "x-www-form-urlencoded") | ("application", "xml") => Format::Text,
            _ => return None,
        })
    }

    /// The name used by `veil mask --content-type` and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Sse => "sse",
            Format::Text => "text",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "json" => Format::Json,
            "html" => Format::Html,
            "csv" => Format::Csv,
            "sse" => Format::Sse,
            "text" => Format::Text,
            _ => return None,
        })
    }

    /// A fresh masker for one document of this format.
    pub fn masker(self, plan: MaskPlan) -> Box<dyn Masker + Send> {
        match self {
            Format::Json => Box::new(JsonMasker::new(plan)),
            Format::Html => Box::new(HtmlMasker::new(plan)),
            // `text/tab-separated-values` maps here too and is read with ',' (the format
            // does not say which of the two it came from); every cell is still scanned.
            Format::Csv => Box::new(CsvMasker::new(plan)),
            Format::Sse => Box::new(SseMasker::new(plan)),
            Format::Text => Box::new(TextMasker::new(plan)),
        }
    }
}

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
    fn counts(&self) -> Option<&MatchCounts> {
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
    fn step_counts(&self) -> Option<&MatchCounts> {
        None
    }
    /// The bytes the format's buffers hold and the response's budget they count against
    /// (`budget.rs`): checked after every chunk, here, for every format.
    fn held(&self) -> Option<(usize, budget::Budget)>;
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
        let r = self.step(chunk, out).and_then(|()| match self.held() {
            Some((held, budget)) => budget.charge(held, 0),
            None => Ok(()),
        });
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

    fn counts(&self) -> Option<&MatchCounts> {
        self.step_counts()
    }
}

/// Runs a whole document through a masker in one call (CLI, tests, small bodies).
pub fn mask_all(masker: &mut dyn Masker, input: &[u8]) -> Result<Vec<u8>, MaskError> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 8);
    masker.push(input, &mut out)?;
    masker.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask_all;
    use crate::testutil::fallback_plan;

    #[test]
    fn format_masker_picks_the_format_masker() {
        let p = fallback_plan("agent");
        let cases: [(&str, &str, &str); 3] = [
            (
                "text/html; charset=utf-8",
                "<p title=\"&#43;5511987654321\">x</p>",
                "<p title=\"vt_phone_k1_",
            ),
            (
                "text/csv",
                "a,b\n\"x,y\",+5511987654321\n",
                "a,b\n\"x,y\",vt_phone_k1_",
            ),
            (
                "text/event-stream",
                ": c\ndata: +5511987654321\n\n",
                ": c\ndata: vt_phone_k1_",
            ),
        ];
        for (ct, input, prefix) in cases {
            let format = Format::from_content_type(ct).unwrap();
            let out = mask_all(format.masker(p.clone()).as_mut(), input.as_bytes()).unwrap();
            let out = String::from_utf8(out).unwrap();
            assert!(out.starts_with(prefix), "{ct}: {out}");
        }
    }
}
