//! The streaming Server-Sent Events masker (`text/event-stream`).
//!
//! Works event by event: an event is a run of lines ended by a blank line; lines end with
//! `\n`, `\r\n` or `\r`. Each event is emitted as soon as its blank line has been read.
//!
//! * `data:` lines are joined with `\n` (as a client joins them). A payload that starts with
//!   `{` or `[` goes through a [`JsonMasker`] (with the route's JSON field rules); any other
//!   payload, or one that is not valid JSON after all, through the detectors as free text.
//!   The masked payload is split back on `\n` into the same data lines.
//! * `id:` lines, comments (`:`) and unknown fields are scanned as free text; `event:` and
//!   `retry:` are copied.
//! * An event with no change is copied byte for byte; in a changed event only the changed
//!   values are rewritten (field names, the space after the colon and line ends are kept).
//!
//! # What is buffered, when output lags
//! One event, capped at [`Limits::max_value`](crate::vocab::plan::Limits) ([`MaskError::CapExceeded`]
//! past it). Output lags input by the current event. A line that ends in `\r` at the end of a
//! chunk waits for the next byte (is it `\r\n`?), except a blank line, which dispatches the
//! event at once (a `\n` right after is then copied through).
//!
//! # Failure modes
//! Over the cap, or an event that is not UTF-8 (the format is UTF-8 only): an error, and the
//! masker is poisoned. An incomplete last event (no blank line before the end of the
//! stream) is masked and emitted at [`Masker::finish`] like any other.
use crate::format::budget::{bytes_of, Budget};
use crate::format::json::JsonMasker;
use crate::format::text::ValueMasker;
use crate::vocab::counts::MatchCounts;
use crate::vocab::plan::MaskPlan;
use crate::{FormatSteps, MaskError, Masker};

const FORMAT: &str = "SSE";

/// One line of an event, as offsets into the event: `[start, value)` is the field name with
/// its colon and optional space, `[value, end)` the value, `[end, next)` the line end.
#[derive(Clone, Copy, Debug)]
struct Line {
    start: usize,
    value: usize,
    end: usize,
    next: usize,
    field: Field,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Data,
    /// `event` and `retry`: copied.
    Copy,
    /// `id`, comments, unknown fields: scanned as text.
    Scan,
}

/// The streaming SSE masker. See the module docs.
#[derive(Debug)]
pub struct SseMasker {
    values: ValueMasker,
    passthrough: bool,
    /// Raw bytes of the current event.
    buf: Vec<u8>,
    /// Where the line being read starts in `buf`.
    line_start: usize,
    /// The last event ended with a blank line `\r` at the end of a chunk: a `\n` that comes
    /// next belongs to it.
    pending_lf: bool,
    lines: Vec<Line>,
    data: String,
    masked: String,
    json_out: Vec<u8>,
    value_out: Vec<Option<String>>,
    offset: u64,
    poisoned: bool,
}

impl SseMasker {
    pub fn new(plan: MaskPlan) -> Self {
        let passthrough = plan.is_passthrough();
        SseMasker {
            values: ValueMasker::new(plan),
            passthrough,
            buf: Vec::new(),
            line_start: 0,
            pending_lf: false,
            lines: Vec::new(),
            data: String::new(),
            masked: String::new(),
            json_out: Vec::new(),
            value_out: Vec::new(),
            offset: 0,
            poisoned: false,
        }
    }

    /// What was masked and what was served clear so far.
    pub fn counts(&self) -> &MatchCounts {
        &self.values.counts
    }

    fn run(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        if self.pending_lf && !chunk.is_empty() {
            self.pending_lf = false;
            if chunk[0] == b'\n' {
                out.push(b'\n');
                chunk = &chunk[1..];
                self.offset += 1;
            }
        }
        self.buf.extend_from_slice(chunk);
        loop {
            let from = self.line_start;
            let Some(p) = memchr::memchr2(b'\r', b'\n', &self.buf[from..]) else {
                break;
            };
            let j = from + p;
            let blank = j == from;
            let next = if self.buf[j] == b'\n' {
                j + 1
            } else if j + 1 < self.buf.len() {
                j + 1 + usize::from(self.buf[j + 1] == b'\n')
            } else if blank {
                self.pending_lf = true;
                j + 1
            } else {
                // A `\r` at the end of what we have: `\r\n` or not? Wait for the next byte.
                break;
            };
            if blank {
                self.dispatch(next, out)?;
                continue;
            }
            self.line_start = next;
        }
        let cap = self.values.plan().limits().max_value;
        if self.buf.len() > cap {
            return Err(MaskError::CapExceeded {
                cap: crate::Cap::SseEvent,
                limit: cap,
            });
        }
        Ok(())
    }

    /// Masks and emits `buf[..len]` (one event, blank line included).
    fn dispatch(&mut self, len: usize, out: &mut Vec<u8>) -> Result<(), MaskError> {
        let cap = self.values.plan().limits().max_value;
        if len > cap {
            return Err(MaskError::CapExceeded {
                cap: crate::Cap::SseEvent,
                limit: cap,
            });
        }
        let mut event = std::mem::take(&mut self.buf);
        let r = self.mask_event(&event[..len], out);
        event.drain(..len);
        self.buf = event;
        self.line_start = 0;
        self.offset += len as u64;
        r
    }

    fn mask_event(&mut self, event: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        if self.passthrough
            || (self.values.plan().scan().is_empty()
                && self.values.plan().fields().json.words() == 0)
        {
            out.extend_from_slice(event);
            return Ok(());
        }
        let text = crate::format::utf8::check(event).map_err(|e| MaskError::Malformed {
            format: FORMAT,
            offset: self.offset + e.valid_up_to() as u64,
            reason: "an event is not UTF-8",
        })?;
        parse_lines(event, &mut self.lines);
        // Data payload.
        self.data.clear();
        let mut n_data = 0;
        for l in self.lines.iter().filter(|l| l.field == Field::Data) {
            if n_data > 0 {
                self.data.push('\n');
            }
            self.data.push_str(&text[l.value..l.end]);
            n_data += 1;
        }
        let data = std::mem::take(&mut self.data);
        self.masked.clear();
        let data_changed = n_data > 0 && self.mask_payload(&data);
        self.data = data;
        // Other scanned fields.
        let mut any = data_changed;
        self.value_out.clear();
        for i in 0..self.lines.len() {
            let l = self.lines[i];
            let mut v = None;
            if l.field == Field::Scan && l.end > l.value {
                let mut s = String::new();
                if self.values.mask_text(&text[l.value..l.end], &mut s) {
                    v = Some(s.replace(['\r', '\n'], " "));
                    any = true;
                }
            }
            self.value_out.push(v);
        }
        if !any {
            out.extend_from_slice(event);
            return Ok(());
        }
        let pieces: Vec<&str> = if data_changed {
            self.masked.split('\n').collect()
        } else {
            Vec::new()
        };
        let same_shape = pieces.len() == n_data;
        let mut k = 0;
        for (i, l) in self.lines.iter().enumerate() {
            let prefix = &event[l.start..l.value];
            let term = &event[l.end..l.next];
            match l.field {
                Field::Data if data_changed => {
                    if same_shape {
                        out.extend_from_slice(prefix);
                        out.extend_from_slice(pieces[k].as_bytes());
                        out.extend_from_slice(term);
                    } else if k == 0 {
                        for p in &pieces {
                            out.extend_from_slice(prefix);
                            out.extend_from_slice(p.as_bytes());
                            out.extend_from_slice(term);
                        }
                    }
                    k += 1;
                }
                _ => match &self.value_out[i] {
                    Some(v) => {
                        out.extend_from_slice(prefix);
                        out.extend_from_slice(v.as_bytes());
                        out.extend_from_slice(term);
                    }
                    None => out.extend_from_slice(&event[l.start..l.next]),
                },
            }
        }
        Ok(())
    }

    /// Masks a data payload into `self.masked`; returns whether it changed.
    fn mask_payload(&mut self, data: &str) -> bool {
        let first = data.trim_start().as_bytes().first().copied();
        if matches!(first, Some(b'{' | b'[')) {
            let mut m = JsonMasker::new(self.values.plan().clone());
            self.json_out.clear();
            let r = m
                .push(data.as_bytes(), &mut self.json_out)
                .and_then(|()| m.finish(&mut self.json_out));
            if r.is_ok() {
                self.values.counts.add(m.counts());
                if self.json_out == data.as_bytes() {
                    return false;
                }
                if let Ok(s) = std::str::from_utf8(&self.json_out) {
                    self.masked.push_str(s);
                    return true;
                }
            }
            // Not JSON after all: scan it as text.
        }
        if self.values.plan().scan().is_empty() {
            return false;
        }
        self.values.mask_text(data, &mut self.masked)
    }
}

/// Splits a complete event into lines (a `\r` at the very end is a line end).
fn parse_lines(event: &[u8], lines: &mut Vec<Line>) {
    lines.clear();
    let mut i = 0;
    while i < event.len() {
        let (end, next) = match memchr::memchr2(b'\r', b'\n', &event[i..]) {
            Some(p) => {
                let j = i + p;
                let n = if event[j] == b'\r' && event.get(j + 1) == Some(&b'\n') {
                    j + 2
                } else {
                    j + 1
                };
                (j, n)
            }
            None => (event.len(), event.len()),
        };
        let content = &event[i..end];
        let (field, value) = if content.is_empty() {
            (Field::Copy, i)
        } else if content[0] == b':' {
            (Field::Scan, i + 1)
        } else {
            let colon = memchr::memchr(b':', content);
            let name = &content[..colon.unwrap_or(content.len())];
            let value = match colon {
                None => end,
                Some(c) if content.get(c + 1) == Some(&b' ') => i + c + 2,
                Some(c) => i + c + 1,
            };
            let field = match name {
                b"data" => Field::Data,
                b"event" | b"retry" => Field::Copy,
                _ => Field::Scan,
            };
            (field, value)
        };
        lines.push(Line {
            start: i,
            value,
            end,
            next,
            field,
        });
        i = next;
    }
}

impl FormatSteps for SseMasker {
    fn passthrough(&self) -> bool {
        self.passthrough
    }

    fn poisoned(&mut self) -> &mut bool {
        &mut self.poisoned
    }

    fn step(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        self.run(chunk, out)
    }

    fn held(&self) -> Option<(usize, Budget)> {
        let held = bytes_of(&self.buf)
            + bytes_of(&self.lines)
            + self.data.capacity()
            + self.masked.capacity()
            + bytes_of(&self.json_out)
            + bytes_of(&self.value_out)
            + self.values.held();
        Some((held, Budget::of(self.values.plan().limits())))
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError> {
        let len = self.buf.len();
        if len > 0 {
            self.dispatch(len, out)
        } else {
            Ok(())
        }
    }

    fn step_counts(&self) -> Option<&MatchCounts> {
        Some(&self.values.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_chunk_invariant, fallback_plan, plan};

    const FIXTURE: &str = include_str!("../../../tests/data/sse/messages.txt");

    fn mask(p: &MaskPlan, input: &str) -> String {
        let make = |p| Box::new(SseMasker::new(p)) as Box<dyn Masker + Send>;
        String::from_utf8(assert_chunk_invariant(&make, p, input.as_bytes())).unwrap()
    }

    #[test]
    fn sse_json_and_text_events_are_masked() {
        let p = fallback_plan("agent");
        let out = mask(&p, FIXTURE);
        for v in [
            "5511987654321",
            "maria.aparecida",
            "0151 23456789",
            "91234-5678",
            "juergen.mueller",
            "351912345678",
        ] {
            assert!(!out.contains(v), "{v:?} left in:\n{out}");
        }
        // JSON event: still one valid JSON data line, non-PII intact.
        let first = out
            .lines()
            .find(|l| l.starts_with("data: {\"id\":"))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&first["data: ".len()..]).unwrap();
        assert!(v["sender"]["phone"]
            .as_str()
            .unwrap()
            .starts_with("vt_phone_k1_"));
        assert_eq!(v["content"], "Pedido 58213 chegou?");
        // Multi-line JSON data keeps its lines.
        assert!(
            out.contains("data: {\"contact\":\r\ndata:  {\"email\":\"[email]\"}}\r\n"),
            "{out}"
        );
        // Text data, comment and id lines.
        assert!(out.contains("data: ligue para vt_phone_k1_"), "{out}");
        assert!(out.contains(": ping de [email]\n"), "{out}");
        assert!(out.contains("id: vt_phone_k1_"), "{out}");
        // Untouched events are byte-identical.
        assert!(
            out.contains("event: typing\ndata: {\"conversation\":42}\nretry: 3000\n\n"),
            "{out}"
        );
        assert!(
            out.ends_with("data: fim sem linha em branco 2025112014010042"),
            "{out}"
        );
    }

    #[test]
    fn sse_all_clear_role_and_no_pii_are_byte_identical() {
        assert_eq!(mask(&fallback_plan("admin"), FIXTURE), FIXTURE);
        let quiet = "event: a\r\ndata: 1\r\r: keep-alive\n\ndata: [1,2]\r\n\r\n";
        assert_eq!(mask(&fallback_plan("agent"), quiet), quiet);
    }

    #[test]
    fn sse_lone_cr_line_ends() {
        let p = fallback_plan("agent");
        let out = mask(&p, "data: +5511987654321\r\rdata: x\r\r\n");
        assert!(out.starts_with("data: vt_phone_k1_"), "{out}");
        assert!(out.ends_with("\r\rdata: x\r\r\n"), "{out}");
    }

    #[test]
    fn sse_event_over_the_cap_fails_closed() {
        let p = plan("limits: { max_value: 64 }\nroutes: []\n", "(none)", "agent");
        let mut m = SseMasker::new(p);
        let mut out = Vec::new();
        let long = format!("data: {}\n", "x".repeat(100));
        let r = m.push(long.as_bytes(), &mut out);
        assert!(matches!(r, Err(MaskError::CapExceeded { .. })), "{r:?}");
        assert_eq!(m.push(b"\n", &mut out), Err(MaskError::Poisoned));
    }
}
