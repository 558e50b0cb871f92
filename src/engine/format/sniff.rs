//! What a body is, by its first bytes rather than its label alone.
//!
//! An upstream (or a hop behind veil) can serve JSON as `text/plain`, `text/javascript`,
//! `application/octet-stream`, `text/html` or with no `Content-Type` at all; masked as
//! text, the kinds only field rules name (a national id under `custom_attributes.rg`, a
//! birth date, a handle) went through in the clear. A [`SniffMasker`] holds the first
//! bytes until the first one that is not whitespace and picks:
//!
//! * `{` or `[`: the JSON masker, with the route's field rules, whatever the label (a
//!   body that then is not JSON is refused, never passed);
//! * a UTF-8 byte order mark is skipped (JSON with a BOM is still JSON);
//! * UTF-16 or UTF-32 (a BOM, or a NUL in every other byte of the head): refused, since
//!   every masker reads UTF-8 and a value in UTF-16 is invisible to the detectors;
//! * otherwise the masker the label names; or, when the label promises nothing a field
//!   rule could be read in (a script, `octet-stream`, no type) and the route has JSON field
//!   rules, a refusal: what field rules name could be in there, unreadable.
//!
//! For a masked role, a body read as text, CSV or events must be UTF-8 to its end: a
//! compressed body that claims no coding (gzip, zstd, brotli: the client can still inflate
//! it by hand) or any other binary is refused rather than copied through unread.
use crate::format::Format;
use crate::vocab::counts::MatchCounts;
use crate::vocab::plan::MaskPlan;
use crate::{MaskError, Masker};

/// Bytes held at most before deciding (a longer run of whitespace decides "not JSON").
const HEAD: usize = 512;

/// What the label says, for the choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// A format veil has a masker for (`application/json`, `text/html`, `text/plain`…).
    Known(Format),
    /// A type that promises no readable structure (`text/javascript`, `octet-stream`,
    /// `multipart/*`, none): read as text only when the route has no JSON field rules.
    Opaque,
}

/// Picks the masker of a body by its first bytes. See the module docs.
pub struct SniffMasker {
    plan: Option<MaskPlan>,
    label: Label,
    head: Vec<u8>,
    inner: Option<Box<dyn Masker + Send>>,
    /// The body must be UTF-8 (text, CSV, events, for a masked role).
    require_utf8: bool,
    /// The first bytes of a character split across chunks.
    carry: Vec<u8>,
}

impl SniffMasker {
    pub fn new(plan: MaskPlan, label: Label) -> SniffMasker {
        SniffMasker {
            plan: Some(plan),
            label,
            head: Vec::new(),
            inner: None,
            require_utf8: false,
            carry: Vec::new(),
        }
    }

    /// Checks that `chunk` continues a UTF-8 text (a character may straddle chunks).
    fn check_utf8(&mut self, chunk: &[u8]) -> Result<(), MaskError> {
        if !self.require_utf8 {
            return Ok(());
        }
        let joined;
        let bytes = if self.carry.is_empty() {
            chunk
        } else {
            joined = [std::mem::take(&mut self.carry).as_slice(), chunk].concat();
            &joined[..]
        };
        match crate::format::utf8::check(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                self.carry = bytes[e.valid_up_to()..].to_vec();
                Ok(())
            }
            Err(_) => Err(Self::refuse(
                "not UTF-8 text (a compressed or binary body that claims no coding)",
            )),
        }
    }

    fn refuse(reason: &'static str) -> MaskError {
        MaskError::Malformed {
            format: "body",
            offset: 0,
            reason,
        }
    }

    /// Decides from `self.head` (`at_end`: no more bytes will come).
    fn decide(&mut self, at_end: bool) -> Result<Option<Vec<u8>>, MaskError> {
        let h = &self.head;
        // Four bytes tell UTF-16 and UTF-32 apart from UTF-8.
        if h.len() < 4 && !at_end {
            return Ok(None);
        }
        let utf16 = h.starts_with(&[0xFF, 0xFE])
            || h.starts_with(&[0xFE, 0xFF])
            || h.starts_with(&[0, 0, 0xFE, 0xFF])
            || (h.len() >= 4 && h.iter().step_by(2).take(4).all(|b| *b == 0))
            || (h.len() >= 4 && h.iter().skip(1).step_by(2).take(4).all(|b| *b == 0));
        // A role that sees everything in the clear is never refused: nothing is hidden.
        let clear = self.plan.as_ref().is_some_and(|p| p.role().is_all_clear());
        if utf16 && !h.is_empty() && !clear {
            return Err(Self::refuse("UTF-16 or UTF-32 (every masker reads UTF-8)"));
        }
        let body = h.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(h);
        let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
        if first.is_none() && !at_end && h.len() < HEAD {
            return Ok(None);
        }
        let plan = self.plan.take().expect("decided once");
        let has_json_rules = !plan.fields().json.is_empty();
        let format = match (first, self.label) {
            (Some(b'{' | b'['), _) => Format::Json,
            (_, Label::Known(f)) => f,
            (None, Label::Opaque) => Format::Text,
            (Some(_), Label::Opaque) if has_json_rules && !clear => {
                return Err(Self::refuse(
                    "a body of no readable type on a route with JSON field rules",
                ))
            }
            (Some(_), Label::Opaque) => Format::Text,
        };
        let skip = h.len() - body.len();
        let held = if format == Format::Json {
            // The BOM is not part of the document.
            self.head[skip..].to_vec()
        } else {
            std::mem::take(&mut self.head)
        };
        self.head.clear();
        self.require_utf8 = !clear && matches!(format, Format::Text | Format::Csv | Format::Sse);
        self.inner = Some(format.masker(plan));
        Ok(Some(held))
    }
}

impl Masker for SniffMasker {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        if self.inner.is_some() {
            self.check_utf8(chunk)?;
            return self.inner.as_mut().expect("decided").push(chunk, out);
        }
        let room = HEAD.saturating_sub(self.head.len()).max(1);
        let (now, rest) = chunk.split_at(chunk.len().min(room));
        self.head.extend_from_slice(now);
        match self.decide(false)? {
            None => Ok(()),
            Some(held) => {
                self.check_utf8(&held)?;
                self.check_utf8(rest)?;
                let inner = self.inner.as_mut().expect("decided");
                inner.push(&held, out)?;
                inner.push(rest, out)
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError> {
        if self.inner.is_none() {
            if let Some(held) = self.decide(true)? {
                self.check_utf8(&held)?;
                self.inner.as_mut().expect("decided").push(&held, out)?;
            }
        }
        if !self.carry.is_empty() {
            return Err(Self::refuse("the text ends inside a UTF-8 character"));
        }
        match &mut self.inner {
            Some(inner) => inner.finish(out),
            None => Ok(()),
        }
    }

    fn counts(&self) -> Option<&MatchCounts> {
        self.inner.as_ref().and_then(|i| i.counts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask_all;
    use crate::testutil::fallback_plan;

    fn run(label: Label, body: &[u8]) -> Result<String, MaskError> {
        let out = mask_all(&mut SniffMasker::new(fallback_plan("agent"), label), body)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn json_is_masked_as_json_whatever_the_label() {
        let doc = br#"  {"a":"+5511987654321","n":[1,2]}"#;
        for label in [
            Label::Known(Format::Text),
            Label::Known(Format::Html),
            Label::Opaque,
            Label::Known(Format::Json),
        ] {
            let out = run(label, doc).unwrap();
            assert!(out.contains(r#""a":"vt_phone_"#), "{label:?}: {out}");
            assert!(out.contains(r#""n":[1,2]"#), "{out}");
        }
        // With a BOM, split anywhere.
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(doc);
        for cut in 0..bom.len() {
            let mut m = SniffMasker::new(fallback_plan("agent"), Label::Known(Format::Json));
            let mut out = Vec::new();
            m.push(&bom[..cut], &mut out).unwrap();
            m.push(&bom[cut..], &mut out).unwrap();
            m.finish(&mut out).unwrap();
            let out = String::from_utf8(out).unwrap();
            assert!(out.contains(r#""a":"vt_phone_"#), "{cut}: {out}");
        }
        // JSON that is not JSON after all is refused, not passed.
        assert!(run(Label::Known(Format::Text), br#"{"a":"+5511987654321""#).is_err());
    }

    #[test]
    fn utf16_is_refused_and_other_text_keeps_its_label() {
        let utf16: Vec<u8> = "+5511987654321"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert!(run(Label::Known(Format::Text), &utf16).is_err());
        let mut bom = vec![0xFF, 0xFE];
        bom.extend_from_slice(&utf16);
        assert!(run(Label::Known(Format::Csv), &bom).is_err());
        let text = run(Label::Known(Format::Text), b"ligue +55 11 98765-4321").unwrap();
        assert!(text.starts_with("ligue vt_phone_"), "{text}");
        assert_eq!(run(Label::Known(Format::Text), b"").unwrap(), "");
        assert!(
            run(Label::Opaque, b"callback({\"a\":1})").is_ok(),
            "no JSON rules here"
        );
    }

    #[test]
    fn binary_read_as_text_is_refused_and_split_characters_are_not() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"ligue +55 11 98765-4321").unwrap();
        let gz = gz.finish().unwrap();
        for label in [
            Label::Known(Format::Text),
            Label::Known(Format::Csv),
            Label::Opaque,
        ] {
            assert!(run(label, &gz).is_err(), "{label:?}");
        }
        let text = "Olá, João: ligue já ✓".as_bytes();
        for cut in 0..text.len() {
            let mut m = SniffMasker::new(fallback_plan("agent"), Label::Known(Format::Text));
            let mut out = Vec::new();
            m.push(&text[..cut], &mut out).unwrap();
            m.push(&text[cut..], &mut out).unwrap();
            m.finish(&mut out).unwrap();
            assert_eq!(out, text, "{cut}");
        }
        assert!(run(Label::Known(Format::Text), &text[..text.len() - 1]).is_err());
    }
}
