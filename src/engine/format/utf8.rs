//! UTF-8 validation for the maskers: every byte of a masked document is validated once,
//! so this is on the hot path. simdutf8 checks 32 or 64 bytes at a time (std's check is
//! fast only for ASCII, and inbox text is Portuguese, German, Hindi, emoji…); only input
//! that is not valid UTF-8 goes through std again, for the position of the error.

/// [`std::str::from_utf8`], fast on valid input.
#[inline]
pub fn check(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(_) => std::str::from_utf8(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..300), text: String) {
            prop_assert_eq!(check(&bytes), std::str::from_utf8(&bytes));
            let long = text.repeat(8);
            prop_assert_eq!(check(long.as_bytes()), Ok(long.as_str()));
        }
    }
}
