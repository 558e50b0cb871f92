//! National identity and tax numbers of the shipped regions (`builtin: nationalid`).
//!
//! Where a scheme has a check (a check letter, a check digit, a date inside), the check
//! decides; where its layout is its own (`ABCPD1234E` is a PAN, `078-05-1120` an SSN's
//! layout) the layout and the check decide without a label. Where the digits alone could
//! be anything (nine digits: a Portuguese NIF or a Portuguese mobile; eleven: a Steuer-ID
//! or a phone), a label before them decides (`NIF 123456789`, `Steuer-ID: …`), as a person
//! reading the chat would. The checks follow python-stdnum's modules of the same names.

/// A scheme a label names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Portugal's NIF (número de contribuinte): 9 digits, mod 11.
    PtNif,
    /// Germany's Steuer-ID (IdNr): 11 digits, ISO 7064 mod 11,10, one digit repeated.
    DeIdnr,
    /// The US Social Security number: 9 digits, area, group and serial rules.
    UsSsn,
    /// Indonesia's NIK: 16 digits, a province code and a birth date inside.
    IdNik,
    /// Colombia's cédula de ciudadanía: 6 to 10 digits, no check.
    CoCedula,
    /// India's Aadhaar: 12 digits, Verhoeff.
    InAadhaar,
}

impl Scheme {
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
}

/// A national id at the start of `text` written with letters (India's PAN, Mexico's CURP,
/// Spain's DNI and NIE): its length and compact form.
pub fn alnum_at(text: &str) -> Option<(usize, String)> {
    let b = text.as_bytes();
    // Spain's DNI (`12345678Z`, `12345678-Z`) and NIE (`X1234567L`, `X-1234567-L`).
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let take = |i: &mut usize, c: u8| {
        if b.get(*i) == Some(&c) {
            *i += 1;
        }
    };
    // (Lower case too: `12345678z`, `x9613851n`.)
    if b.len() >= 9 && digits(&b[..8]) {
        let mut i = 8;
        take(&mut i, b'-');
        let letter = b.get(i)?.to_ascii_uppercase();
        return (dni_letter(&b[..8]) == Some(letter))
            .then(|| (i + 1, format!("{}{}", &text[..8], char::from(letter))));
    }
    let first = b.first()?.to_ascii_uppercase();
    if matches!(first, b'X' | b'Y' | b'Z') {
        let mut i = 1;
        take(&mut i, b'-');
        let body = b.get(i..i + 7).filter(|d| digits(d))?;
        i += 7;
        take(&mut i, b'-');
        let letter = b.get(i)?.to_ascii_uppercase();
        let mut number = [0u8; 8];
        number[0] = b"XYZ".iter().position(|&c| c == first)? as u8 + b'0';
        number[1..].copy_from_slice(body);
        return (dni_letter(&number) == Some(letter)).then(|| {
            let body = std::str::from_utf8(body).unwrap_or_default();
            (
                i + 1,
                format!("{}{body}{}", char::from(first), char::from(letter)),
            )
        });
    }
    // Mexico's CURP: 4 letters, a birth date, H/M/X, a state, 3 consonants, a check.
    if b.len() >= 18 && curp_valid(&b[..18]) {
        return Some((18, text[..18].to_owned()));
    }
    // India's PAN: 5 letters (the 4th the holder's type), 4 digits, a letter.
    if b.len() >= 10
        && b[..5].iter().all(u8::is_ascii_uppercase)
        && b"ABCFGHLJPTK".contains(&b[3])
        && digits(&b[5..9])
        && &b[5..9] != b"0000"
        && b[9].is_ascii_uppercase()
    {
        return Some((10, text[..10].to_owned()));
    }
    None
}

/// The check letter of a Spanish DNI's 8 digits (a NIE's with its X/Y/Z as 0/1/2).
fn dni_letter(digits: &[u8]) -> Option<u8> {
    let n = digits.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })?;
    Some(b"TRWAGMYFPDXBNJZSQVHLCKE"[(n % 23) as usize])
}

/// Mexico's CURP (stdnum's `mx.curp`): layout, date, sex, state, check digit.
fn curp_valid(c: &[u8]) -> bool {
    let upper = |r: std::ops::Range<usize>| c[r].iter().all(u8::is_ascii_uppercase);
    if !upper(0..4) || !c[4..10].iter().all(u8::is_ascii_digit) || !upper(11..16) {
        return false;
    }
    let sex = matches!(c[10], b'H' | b'M' | b'X');
    if !(sex && c[16].is_ascii_alphanumeric() && c[17].is_ascii_digit()) {
        return false;
    }
    let two = |i: usize| u32::from(c[i] - b'0') * 10 + u32::from(c[i + 1] - b'0');
    if !(1..=12).contains(&two(6)) || !(1..=31).contains(&two(8)) {
        return false;
    }
    const STATES: &[&[u8; 2]] = &[
        b"AS", b"BC", b"BS", b"CC", b"CH", b"CL", b"CM", b"CS", b"DF", b"DG", b"GR", b"GT", b"HG",
        b"JC", b"MC", b"MN", b"MS", b"NE", b"NL", b"NT", b"OC", b"PL", b"QR", b"QT", b"SL", b"SP",
        b"SR", b"TC", b"TL", b"TS", b"VZ", b"YN", b"ZS",
    ];
    if !STATES.iter().any(|s| s[..] == c[11..13]) {
        return false;
    }
    const ALPHABET: &[u8] = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ".as_bytes();
    // (Ñ is two bytes in ALPHABET: count characters, not bytes, for the letters after it.)
    let value = |ch: u8| -> Option<u32> {
        let at = ALPHABET.iter().position(|&a| a == ch)?;
        Some(if at > 24 { at as u32 - 1 } else { at as u32 })
    };
    let mut sum = 0;
    for (i, &ch) in c[..17].iter().enumerate() {
        let Some(v) = value(ch) else {
            return false;
        };
        sum += v * (18 - i as u32);
    }
    (10 - sum % 10) % 10 == u32::from(c[17] - b'0')
}

/// A national id written as only one scheme writes it, without a label: an SSN with its
/// dashes (`123-45-6789`), an Aadhaar in its three groups of four (`2345 6789 0123`).
/// `candidate` is a number candidate; returns its compact form.
pub fn unlabelled(candidate: &str) -> Option<String> {
    let b = candidate.as_bytes();
    if b.len() == 11 && b[3] == b'-' && b[6] == b'-' {
        let d: Vec<u8> = b.iter().copied().filter(u8::is_ascii_digit).collect();
        return (d.len() == 9 && ssn_valid(&d)).then(|| String::from_utf8_lossy(&d).into_owned());
    }
    if b.len() == 14 && b[4] == b' ' && b[9] == b' ' {
        let d: Vec<u8> = b.iter().copied().filter(u8::is_ascii_digit).collect();
        return (d.len() == 12 && aadhaar_valid(&d))
            .then(|| String::from_utf8_lossy(&d).into_owned());
    }
    None
}

/// A bare run that no other kind took: an Aadhaar (12 digits, Verhoeff). (A NIK's check
/// is a province and a date, which one 16-digit run in forty passes: it needs its label.)
pub fn bare(candidate: &str) -> Option<String> {
    let b = candidate.as_bytes();
    let ok = b.len() == 12 && b.iter().all(u8::is_ascii_digit) && aadhaar_valid(b);
    ok.then(|| candidate.to_owned())
}

/// The digits of `candidate` are a `scheme` number (a label named it).
pub fn labelled(scheme: Scheme, candidate: &str) -> Option<String> {
    let d: Vec<u8> = candidate.bytes().filter(u8::is_ascii_digit).collect();
    let punctuation_ok = candidate
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b' ' | b'.' | b'-'));
    let ok = punctuation_ok
        && match scheme {
            Scheme::PtNif => d.len() == 9 && pt_nif_valid(&d),
            Scheme::DeIdnr => d.len() == 11 && de_idnr_valid(&d),
            Scheme::UsSsn => d.len() == 9 && ssn_valid(&d),
            Scheme::IdNik => d.len() == 16 && nik_valid(&d),
            Scheme::CoCedula => (6..=10).contains(&d.len()) && d[0] != b'0',
            Scheme::InAadhaar => d.len() == 12 && aadhaar_valid(&d),
        };
    ok.then(|| String::from_utf8_lossy(&d).into_owned())
}

fn pt_nif_valid(d: &[u8]) -> bool {
    if !b"1235689".contains(&d[0]) && !d.starts_with(b"45") && !d.starts_with(b"7") {
        return false;
    }
    let sum: u32 = d[..8]
        .iter()
        .enumerate()
        .map(|(i, &c)| u32::from(c - b'0') * (9 - i as u32))
        .sum();
    let check = (11 - sum % 11) % 11 % 10;
    check == u32::from(d[8] - b'0')
}

/// ISO 7064 mod 11,10 and the IdNr's rule: one digit of the first ten appears two or three
/// times, every other at most once.
fn de_idnr_valid(d: &[u8]) -> bool {
    if d[0] == b'0' {
        return false;
    }
    let mut counts = [0u8; 10];
    for &c in &d[..10] {
        counts[usize::from(c - b'0')] += 1;
    }
    let repeated: Vec<u8> = counts.iter().copied().filter(|&n| n > 1).collect();
    if repeated.len() != 1 || !matches!(repeated[0], 2 | 3) {
        return false;
    }
    let mut p = 10u32;
    for &c in &d[..10] {
        let mut s = (u32::from(c - b'0') + p) % 10;
        if s == 0 {
            s = 10;
        }
        p = (2 * s) % 11;
    }
    (11 - p) % 10 == u32::from(d[10] - b'0')
}

/// Area not 000, 666 or 9xx; group not 00; serial not 0000; not the advertised numbers.
fn ssn_valid(d: &[u8]) -> bool {
    let (area, group, serial) = (&d[..3], &d[3..5], &d[5..]);
    area != b"000"
        && area != b"666"
        && area[0] != b'9'
        && group != b"00"
        && serial != b"0000"
        && d != b"078051120"
        && d != b"219099999"
}

/// A province code of Indonesia (11-19, 21, 31-36, 51-53, 61-65, 71-76, 81-82, 91-96) and a
/// birth date (day + 40 for women) in digits 7 to 12.
fn nik_valid(d: &[u8]) -> bool {
    let two = |i: usize| u32::from(d[i] - b'0') * 10 + u32::from(d[i + 1] - b'0');
    let province = two(0);
    let province_ok = matches!(province, 11..=19 | 21 | 31..=36 | 51..=53 | 61..=65 | 71..=76 | 81..=82 | 91..=96);
    let (day, month) = (two(6) % 40, two(8));
    let days = match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    province_ok && (1..=days).contains(&day) && (1..=12).contains(&month) && &d[12..] != b"0000"
}

/// Verhoeff's check over all 12 digits, a first digit from 2, and not a palindrome.
fn aadhaar_valid(d: &[u8]) -> bool {
    const MUL: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const PERM: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    if d[0] < b'2' || d.iter().eq(d.iter().rev()) {
        return false;
    }
    let check = d.iter().rev().enumerate().fold(0u8, |c, (i, &x)| {
        MUL[usize::from(c)][usize::from(PERM[i % 8][usize::from(x - b'0')])]
    });
    check == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// python-stdnum's valid examples of each module.
    #[test]
    fn schemes_on_stdnum_examples() {
        for (text, compact) in [
            ("54362315K", "54362315K"),
            ("54362315-K", "54362315K"),
            ("X2482300W", "X2482300W"),
            ("x-2482300w", "X2482300W"),
            ("BOXW310820HNERXN09", "BOXW310820HNERXN09"),
            ("ACUPA7085R", "ACUPA7085R"),
        ] {
            let got = alnum_at(text).map(|(_, c)| c).unwrap_or_default();
            assert_eq!(got, compact, "{text}");
        }
        for bad in ["54362315Z", "X2482300A", "BOXW310820HNERXN08", "ACUZA7085R"] {
            assert_eq!(alnum_at(bad), None, "{bad}");
        }
        assert_eq!(unlabelled("536-90-4399").as_deref(), Some("536904399"));
        assert_eq!(unlabelled("078-05-1120"), None);
        assert_eq!(
            unlabelled("2341 2341 2346").as_deref(),
            Some("234123412346")
        );
        assert_eq!(unlabelled("2341 2341 2345"), None);
        assert_eq!(bare("234123412346").as_deref(), Some("234123412346"));
        assert_eq!(bare("3171011708450001"), None);
        assert_eq!(
            labelled(Scheme::IdNik, "3171011708450001").as_deref(),
            Some("3171011708450001")
        );
        assert_eq!(labelled(Scheme::IdNik, "3171013002001234"), None);
        assert_eq!(alnum_at("ACUPA0000R"), None);
        assert_eq!(
            labelled(Scheme::PtNif, "501 964 843").as_deref(),
            Some("501964843")
        );
        assert_eq!(labelled(Scheme::PtNif, "501 964 842"), None);
        assert_eq!(
            labelled(Scheme::DeIdnr, "36 574 261 809").as_deref(),
            Some("36574261809")
        );
        assert_eq!(labelled(Scheme::DeIdnr, "36 574 261 890"), None);
        assert_eq!(
            labelled(Scheme::CoCedula, "1.020.304.050").as_deref(),
            Some("1020304050")
        );
    }
}
