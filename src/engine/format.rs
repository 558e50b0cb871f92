//! Which masker a document needs, from its content type.
use super::csv::CsvMasker;
use super::html::HtmlMasker;
use super::json::JsonMasker;
use super::plan::MaskPlan;
use super::sse::SseMasker;
use super::text::TextMasker;
use super::Masker;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mask_all;
    use crate::engine::testutil::fallback_plan;

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
