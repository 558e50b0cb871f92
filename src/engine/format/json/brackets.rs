//! Where each container of a chunk closes, found before the tokenizer reads the chunk.
//!
//! The span cache ([`replay`](crate::cache::spans)) needs a container's whole raw bytes
//! when the tokenizer reaches its opening bracket. Finding the matching bracket one byte at
//! a time would cost as much as reading the container; here it is found 64 bytes at a
//! time, the way simdjson's first stage does:
//!
//! 1. compare each byte with `"`, `\`, `{`/`[` and `}`/`]` ([`wide`]'s portable vectors:
//!    SSE2 on x86_64, NEON on aarch64), giving one bit per byte;
//! 2. drop the quotes that an odd run of backslashes escapes;
//! 3. a prefix XOR of the quote bits marks the bytes inside strings;
//! 4. only the brackets outside strings (a few per block) are visited one by one, with a
//!    stack that pairs each opening bracket with its closing one.
//!
//! The result is only ever a hint: the cache replays a container only when its bytes equal
//! a recorded container's bytes, which were parsed and masked in full. A recorded container
//! is valid JSON, so equal bytes from the same opening bracket end at the same place, and
//! malformed input can never be replayed into valid-looking output.
use wide::u8x64;

const EVEN_BITS: u64 = 0x5555_5555_5555_5555;

/// The containers of one chunk: where each opens, and where it closes (if in the chunk).
#[derive(Debug, Default)]
pub struct Brackets {
    /// Offsets of the opening brackets, ascending.
    starts: Vec<u32>,
    /// The matching closing bracket of each, or [`NONE`].
    ends: Vec<u32>,
    /// Indexes (into `starts`) of the containers open at the current point of the scan.
    stack: Vec<u32>,
    /// Where the last [`Brackets::close_of`] query stopped.
    cursor: usize,
}

impl Brackets {
    /// Bytes its tables hold (the response's memory budget).
    pub fn held(&self) -> usize {
        4 * (self.starts.capacity() + self.ends.capacity() + self.stack.capacity())
    }
}

const NONE: u32 = u32::MAX;

/// Each bit set where an odd number of bits at or below it are set in `x`.
#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The bytes escaped by a backslash, given the backslashes of a block and whether its first
/// byte is escaped by the previous block (updated for the next one). An escaped backslash
/// escapes nothing: runs of backslashes escape the byte after them when they are odd.
#[inline]
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    if backslash == 0 && *carry == 0 {
        return 0;
    }
    let backslash = backslash & !*carry;
    let follows_escape = (backslash << 1) | *carry;
    // Runs that start on an odd bit; adding the run to its start carries past its end.
    let odd_starts = backslash & !EVEN_BITS & !follows_escape;
    let (seq_on_even, overflow) = odd_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    let invert = seq_on_even << 1;
    (EVEN_BITS ^ invert) & follows_escape
}

impl Brackets {
    /// Indexes the containers of `chunk`. `in_string`: the chunk starts inside a string;
    /// `escape`: its first byte is escaped (the previous chunk ended on a backslash).
    pub fn index(&mut self, chunk: &[u8], in_string: bool, escape: bool) {
        self.starts.clear();
        self.ends.clear();
        self.stack.clear();
        self.cursor = 0;
        let mut in_str = if in_string { u64::MAX } else { 0 };
        let mut esc = u64::from(escape);
        let mut base = 0usize;
        while let Some(block) = chunk.get(base..base + 64) {
            let block: [u8; 64] = block.try_into().expect("64 bytes");
            let quiet = self.block(chunk, block, base, u64::MAX, &mut in_str, &mut esc);
            base += 64;
            if quiet {
                // Inside a long string (a message body): jump to the block of its next quote
                // or backslash; the blocks before it hold nothing to index.
                match memchr::memchr2(b'"', b'\\', &chunk[base..]) {
                    Some(p) => base += p / 64 * 64,
                    None => return,
                }
                esc = 0;
            }
        }
        let rest = &chunk[base..];
        if !rest.is_empty() {
            let mut block = [b' '; 64];
            block[..rest.len()].copy_from_slice(rest);
            let valid = (1u64 << rest.len()) - 1;
            self.block(chunk, block, base, valid, &mut in_str, &mut esc);
        }
    }

    /// Indexes one block; returns true when it lies wholly inside a string and holds no
    /// quote or backslash.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn block(
        &mut self,
        chunk: &[u8],
        block: [u8; 64],
        base: usize,
        valid: u64,
        in_str: &mut u64,
        esc: &mut u64,
    ) -> bool {
        let v = u8x64::from(block);
        let quote = v.simd_eq(u8x64::splat(b'"')).to_bitmask();
        // `{` and `[` differ in one bit (0x20), as do `}` and `]`.
        let folded = v | u8x64::splat(0x20);
        let brackets =
            (folded.simd_eq(u8x64::splat(b'{')) | folded.simd_eq(u8x64::splat(b'}'))).to_bitmask();
        // (A backslash outside a string is not JSON; it is taken to escape the next byte
        // there too, which only matters for input the tokenizer rejects.)
        let backslash = v.simd_eq(u8x64::splat(b'\\')).to_bitmask();
        let escaped = escaped(backslash, esc);
        let inside = prefix_xor(quote & !escaped) ^ *in_str;
        *in_str = ((inside as i64) >> 63) as u64;
        let mut brackets = brackets & !inside & !escaped & valid;
        while brackets != 0 {
            let at = base + brackets.trailing_zeros() as usize;
            // `{` and `[` have bit 1 set, `}` and `]` do not.
            if chunk[at] & 2 != 0 {
                self.stack.push(self.starts.len() as u32);
                self.starts.push(at as u32);
                self.ends.push(NONE);
            } else if let Some(k) = self.stack.pop() {
                self.ends[k as usize] = at as u32;
            }
            brackets &= brackets - 1;
        }
        (quote | backslash) & valid == 0 && *in_str != 0
    }

    /// The closing bracket of the container that opens at `at`, if it is in the chunk.
    /// Queries must come in ascending order of `at` (the tokenizer's order).
    pub fn close_of(&mut self, at: usize) -> Option<usize> {
        let at = u32::try_from(at).ok()?;
        while self.starts.get(self.cursor).is_some_and(|&s| s < at) {
            self.cursor += 1;
        }
        if self.starts.get(self.cursor) != Some(&at) {
            return None;
        }
        let end = self.ends[self.cursor];
        (end != NONE).then_some(end as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same pairs, one byte at a time.
    fn reference(chunk: &[u8], in_string: bool, escape: bool) -> Vec<(usize, Option<usize>)> {
        let (mut inside, mut esc) = (in_string, escape);
        let mut pairs: Vec<(usize, Option<usize>)> = Vec::new();
        let mut stack = Vec::new();
        for (i, &b) in chunk.iter().enumerate() {
            if esc {
                esc = false;
                continue;
            }
            match b {
                b'\\' => esc = true,
                b'"' => inside = !inside,
                b'{' | b'[' if !inside => {
                    stack.push(pairs.len());
                    pairs.push((i, None));
                }
                b'}' | b']' if !inside => {
                    if let Some(k) = stack.pop() {
                        pairs[k].1 = Some(i);
                    }
                }
                _ => {}
            }
        }
        pairs
    }

    fn indexed(chunk: &[u8], in_string: bool, escape: bool) -> Vec<(usize, Option<usize>)> {
        let mut b = Brackets::default();
        b.index(chunk, in_string, escape);
        let starts = b.starts.clone();
        starts
            .iter()
            .map(|&s| (s as usize, b.close_of(s as usize)))
            .collect()
    }

    #[test]
    fn containers_pair_up_across_strings_and_escapes() {
        let doc = br#"{"a":[1,{"b":"x}]\"{"},"c\\"],"d":"\\\"[" }"#;
        let got = indexed(doc, false, false);
        assert_eq!(got, reference(doc, false, false));
        assert_eq!(got[0], (0, Some(doc.len() - 1)));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn a_chunk_that_starts_inside_a_string_or_an_escape() {
        // `x"]` closes a string begun earlier; `\"` is an escaped quote.
        assert_eq!(
            indexed(br#"x"][{}]"#, true, false),
            vec![(3, Some(6)), (4, Some(5))]
        );
        // The first quote is escaped: the string ends at the second one.
        assert_eq!(indexed(br#""x"{}"#, true, true), vec![(3, Some(4))]);
        // Not escaped: it closes the string, and the next quote opens one around `{}`.
        assert!(indexed(br#""x"{}"#, true, false).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn pairs_agree_with_a_byte_by_byte_scan(
            pieces in proptest::collection::vec(
                prop_oneof![
                    4 => prop::sample::select(b"{}[]\"\\ a:,".to_vec()).prop_map(|b| vec![b]),
                    // Long runs without quotes: whole blocks inside (or outside) a string.
                    1 => (1usize..200).prop_map(|n| vec![b'x'; n]),
                ],
                0..200,
            ),
            in_string: bool,
            escape: bool,
        ) {
            let bytes = pieces.concat();
            // A pending escape only ever happens inside a string.
            let in_string = in_string || escape;
            prop_assert_eq!(indexed(&bytes, in_string, escape), reference(&bytes, in_string, escape));
        }
    }
}
