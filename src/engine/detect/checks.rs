//! Check-digit validators for the text-shaped built-ins (IBAN). The numeric ones (CPF,
//! CNPJ, Luhn) live with the number classifier in [`crate::detect::numeric`].

/// Length of the longest prefix of `candidate` (letters, digits and single spaces, as the
/// IBAN candidate pattern yields) that ends at a group boundary and is a valid IBAN
/// (ISO 13616: 15 to 34 characters, mod-97 == 1).
pub fn iban_prefix_len(candidate: &str, accept: impl Fn(usize) -> bool) -> Option<usize> {
    let b = candidate.as_bytes();
    let mut ends: Vec<usize> = (1..=b.len())
        .filter(|&e| e == b.len() || b[e] == b' ')
        .collect();
    // Ungrouped text: every position may end it.
    if !candidate.contains(' ') {
        ends = (15..=b.len().min(34)).collect();
    }
    ends.into_iter()
        .rev()
        .find(|&e| iban_valid(&candidate[..e]) && accept(e))
}

/// Whether `s` (spaces allowed) is a valid IBAN.
pub fn iban_valid(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|c| *c != b' ').collect();
    if !(15..=34).contains(&compact.len())
        || !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
        || !compact
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in compact[4..].iter().chain(&compact[..4]) {
        let v = if c.is_ascii_digit() {
            (c - b'0') as u32
        } else {
            (c - b'A') as u32 + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_positive_and_negative() {
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("DE89370400440532013000"));
        assert!(iban_valid("GB82 WEST 1234 5698 7654 32"));
        assert!(iban_valid("PT50 0002 0123 1234 5678 9015 4"));
        assert!(!iban_valid("DE89 3704 0044 0532 0130 01"));
        assert!(!iban_valid("DE89 3704"));
        assert_eq!(
            iban_prefix_len("DE89 3704 0044 0532 0130 00 ABCD", |_| true),
            Some("DE89 3704 0044 0532 0130 00".len())
        );
        assert_eq!(iban_prefix_len("AB12 CDEF GHIJ KLMN", |_| true), None);
    }
}
