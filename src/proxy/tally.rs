//! The contacts one response showed, for the collection budget: the distinct tokens of
//! the kinds that name a contact (`vt_phone_…`, `vt_email_…`) in the masked output, as
//! 64-bit ids (a hash of the token: deterministic across replicas that share keys, so a
//! shared store counts one contact once; never a clear value).
//!
//! The tally reads what the masker wrote, after masking, so every format (JSON, HTML, CSV,
//! text) and every replayed span is counted alike. A token cut between two output chunks
//! is read whole: the last [`CARRY`] bytes are scanned again with the next chunk (a token
//! seen twice is the same id).
use rustc_hash::{FxHashSet, FxHasher};
use std::hash::Hasher;

/// Bytes of output kept for the next chunk: longer than any token worth counting.
const CARRY: usize = 512;
/// Shortest payload of a token (a compact phone token).
const MIN_PAYLOAD: usize = 18;

#[derive(Debug)]
pub struct ContactTally {
    prefixes: Vec<Vec<u8>>,
    /// The carried tail of the previous output, then the current chunk.
    buf: Vec<u8>,
    ids: FxHashSet<u64>,
    /// Enough ids to tell that a budget is exceeded.
    cap: usize,
}

impl ContactTally {
    /// Counts tokens starting with one of `prefixes`, up to `cap` distinct ones.
    pub fn new(prefixes: &[String], cap: usize) -> ContactTally {
        ContactTally {
            prefixes: prefixes.iter().map(|p| p.as_bytes().to_vec()).collect(),
            buf: Vec::with_capacity(2 * CARRY),
            ids: FxHashSet::default(),
            cap,
        }
    }

    /// Reads one chunk of masked output.
    pub fn feed(&mut self, out: &[u8]) {
        if self.ids.len() >= self.cap {
            return;
        }
        self.buf.extend_from_slice(out);
        self.scan(false);
        if self.buf.len() > CARRY {
            let cut = self.buf.len() - CARRY;
            self.buf.drain(..cut);
        }
    }

    /// The output has ended: a token at its very end is whole.
    pub fn finish(&mut self) {
        self.scan(true);
        self.buf.clear();
    }

    /// The distinct contacts seen.
    pub fn take_ids(&mut self) -> Vec<u64> {
        self.ids.drain().collect()
    }

    fn scan(&mut self, at_end: bool) {
        let buf = &self.buf;
        for pos in memchr::memmem::find_iter(buf, b"vt_") {
            if self.ids.len() >= self.cap {
                return;
            }
            let rest = &buf[pos..];
            let Some(prefix) = self.prefixes.iter().find(|p| rest.starts_with(p)) else {
                continue;
            };
            let mut j = prefix.len();
            while j < rest.len() && (rest[j].is_ascii_lowercase() || rest[j].is_ascii_digit()) {
                j += 1;
            }
            if j == rest.len() && !at_end {
                // Cut by the chunk's end: read again with the next chunk.
                return;
            }
            if rest.get(j) != Some(&b'_') {
                continue;
            }
            let payload = j + 1;
            let mut end = payload;
            while end < rest.len() && matches!(rest[end], b'a'..=b'z' | b'2'..=b'7') {
                end += 1;
            }
            if end == rest.len() && !at_end {
                return;
            }
            if end - payload < MIN_PAYLOAD {
                continue;
            }
            let mut h = FxHasher::default();
            h.write(&rest[..end]);
            self.ids.insert(h.finish());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "vt_phone_k1_lfm3ktlpfqisdxwllw";
    const B: &str = "vt_phone_k1_abcdefghijklmnopqr";
    const E: &str = "vt_email_k1_abcdefghijklmnopqrstuvwxyz234567abcdef";

    fn count(chunks: &[&[u8]]) -> usize {
        let mut t = ContactTally::new(&["vt_phone_".into(), "vt_email_".into()], 1000);
        for c in chunks {
            t.feed(c);
        }
        t.finish();
        t.take_ids().len()
    }

    #[test]
    fn distinct_tokens_of_the_listed_kinds_are_counted_once() {
        let doc = format!(
            r#"[{{"p":"{A}","e":"{E}"}},{{"p":"{A}"}},{{"p":"{B}","w":"vt_wamid_k1_abcdefghijklmnopqr"}}]"#
        );
        assert_eq!(count(&[doc.as_bytes()]), 3);
        // Split anywhere, even one byte at a time: the same count.
        for cut in 0..doc.len() {
            assert_eq!(
                count(&[&doc.as_bytes()[..cut], &doc.as_bytes()[cut..]]),
                3,
                "{cut}"
            );
        }
        let bytes: Vec<&[u8]> = doc.as_bytes().chunks(1).collect();
        assert_eq!(count(&bytes), 3);
        // A token at the very end of the output.
        assert_eq!(count(&[b"x ", A.as_bytes()]), 1);
        // Not tokens: too short, no key id.
        assert_eq!(
            count(&[b"vt_phone_k1_abc vt_phone_abcdefghijklmnopqrstu"]),
            0
        );
    }

    #[test]
    fn the_cap_stops_the_count() {
        let mut t = ContactTally::new(&["vt_phone_".into()], 2);
        t.feed(format!("{A} {B} vt_phone_k1_zzzzzzzzzzzzzzzzzz").as_bytes());
        t.finish();
        assert_eq!(t.take_ids().len(), 2);
    }
}
