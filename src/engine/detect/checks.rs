//! Check-digit validators for the text-shaped built-ins (IBAN). The numeric ones (CPF,
//! CNPJ, Luhn) live with the number classifier in [`crate::detect::numeric`].

/// Separators people write inside an IBAN: a space (`ES 58 0049 …`, as the registry prints
/// some), a dash or a dot.
fn iban_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.')
}

/// Length of the prefix of `candidate` (letters, digits and single separators, as the
/// IBAN candidate pattern yields) that is a valid IBAN, if there is one: the registry fixes
/// the length of its country's IBANs, so only the prefix that holds that many letters and
/// digits is checked (at a group boundary when the text is grouped). No allocation: this
/// runs for every candidate, and a two-letter word before a number starts one.
pub fn iban_prefix_len(candidate: &str, accept: impl Fn(usize) -> bool) -> Option<usize> {
    let b = candidate.as_bytes();
    let want = iban_length(&[
        b.first()?.to_ascii_uppercase(),
        b.get(1)?.to_ascii_uppercase(),
    ])?;
    let grouped = b.iter().any(|&c| iban_sep(c));
    let mut n = 0;
    for (i, &c) in b.iter().enumerate() {
        n += usize::from(!iban_sep(c));
        if n == want {
            let e = i + 1;
            let boundary = !grouped || e == b.len() || iban_sep(b[e]);
            return (boundary && iban_valid(&candidate[..e]) && accept(e)).then_some(e);
        }
    }
    None
}

/// The IBAN length of each country in the SWIFT IBAN registry (release 99, 2025): an
/// IBAN of another length, or of a country not in it, is not one, whatever mod 97 says
/// (a chance prefix of a longer run of letters and digits passes mod 97 once in 97).
const IBAN_LENGTHS: [(&[u8; 2], u8); 89] = [
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The registry's IBAN length for a country code.
pub fn iban_length(country: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c[..] == *country)
        .map(|&(_, n)| usize::from(n))
}

/// The IBAN's electronic form: separators dropped, letters upper-cased.
pub fn iban_compact(s: &str) -> String {
    s.bytes()
        .filter(|&c| !iban_sep(c))
        .map(|c| char::from(c.to_ascii_uppercase()))
        .collect()
}

/// Whether `s` (separators and lower case allowed) is a valid IBAN: a registry country, its
/// length, mod 97.
pub fn iban_valid(s: &str) -> bool {
    let mut buf = [0u8; 34];
    let mut n = 0;
    for c in s.bytes().filter(|&c| !iban_sep(c)) {
        if n == buf.len() {
            return false;
        }
        buf[n] = c.to_ascii_uppercase();
        n += 1;
    }
    let compact = &buf[..n];
    if compact.len() < 4 || iban_length(&compact[..2]) != Some(compact.len()) {
        return false;
    }
    if !compact[..2].iter().all(u8::is_ascii_uppercase)
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

    /// The registry's printed example of each country (valid by construction: the check
    /// digits are computed here over a zero BBAN of the country's length), and the same
    /// with one character more or less: only the registry length passes.
    #[test]
    fn every_registry_country_at_its_length_only() {
        fn with_check(cc: &[u8], bban: &[u8]) -> String {
            let mut rem: u32 = 0;
            for &c in bban.iter().chain(cc).chain(b"00") {
                let v = if c.is_ascii_digit() {
                    u32::from(c - b'0')
                } else {
                    u32::from(c - b'A') + 10
                };
                rem = if v >= 10 {
                    (rem * 100 + v) % 97
                } else {
                    (rem * 10 + v) % 97
                };
            }
            let check = 98 - rem;
            format!(
                "{}{:02}{}",
                std::str::from_utf8(cc).unwrap(),
                check,
                std::str::from_utf8(bban).unwrap()
            )
        }
        for (cc, n) in IBAN_LENGTHS {
            let n = usize::from(n);
            let bban: Vec<u8> = (0..n - 4).map(|i| b'0' + (i % 10) as u8).collect();
            let iban = with_check(cc, &bban);
            assert!(iban_valid(&iban), "{iban}");
            let longer = with_check(cc, &[&bban[..], b"7"].concat());
            assert!(!iban_valid(&longer), "{longer}");
            let shorter = with_check(cc, &bban[..bban.len() - 1]);
            assert!(!iban_valid(&shorter), "{shorter}");
        }
        assert!(!iban_valid(&with_check(b"ZZ", b"123456789012345678")));
    }

    #[test]
    fn ibans_as_people_write_them() {
        for s in [
            "ES91 2100 0418 4502 0005 1332",
            "ES 91 2100 0418 4502 0005 1332",
            "es91 2100 0418 4502 0005 1332",
            "DE89-3704-0044-0532-0130-00",
            "DE89.3704.0044.0532.0130.00",
            "de89370400440532013000",
        ] {
            assert!(iban_valid(s), "{s}");
            assert_eq!(iban_prefix_len(s, |_| true), Some(s.len()), "{s}");
        }
        assert_eq!(iban_compact("es 91-2100.0418"), "ES9121000418");
    }
}
