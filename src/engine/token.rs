//! Keys, reversible tokens and irreversible hashes.
//!
//! * A **token** is deterministic authenticated encryption (AES-256-SIV) of the normalized
//!   value, with the kind as associated data: the same contact in two formats gets the same
//!   token, a token of one kind never decrypts as another, and a forged or altered token
//!   fails to decrypt. Replicas share nothing but keys.
//! * A **compact token** is the same promise for a phone number (`+` and 1-15 digits), in
//!   32 characters with a key id of up to 4: FF1 (NIST SP 800-38G, the `fpe` crate) over 18
//!   base-32 numerals, 8 zero numerals (40 bits, checked on decryption: a forged or altered
//!   token passes with probability 2^-40 per try, online only, under a quota) then the
//!   number as 10 numerals (50 bits), with the kind as tweak. Long tokens broke inbox
//!   layouts; the full AES-SIV form stays for every other value and still decrypts.
//! * A **hash** is HMAC-SHA256 of the normalized value, truncated: stable, irreversible.
//!
//! Token format (ASCII, safe in JSON strings, HTML text and attributes, URLs and CSV cells,
//! recognisable by one regex, [`TOKEN_PATTERN`]):
//!
//! ```text
//! vt_<kind>_<key id>_<base32 lowercase, no padding: SIV tag ‖ ciphertext>
//! vt_<kind>_<key id>_<18 base32 numerals: FF1(0^8 ‖ number)>            (phones)
//! vh_<kind>_<16 base32 characters of HMAC-SHA256>
//! ```
//!
//! Key material never comes from rule files and never reaches a log: [`KeyRing`]'s `Debug`
//! prints key ids only.
use aes::Aes256;
use aes_siv::{siv::Aes256Siv, KeyInit};
use data_encoding::{Encoding, BASE32_NOPAD, BASE64};
use fpe::ff1::FF1;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::sync::OnceLock;

/// One regex that finds every token in a text: groups are kind, key id, payload.
pub const TOKEN_PATTERN: &str = r"vt_([a-z][a-z0-9]{0,15})_([a-z0-9]{1,8})_([a-z2-7]{18,})";

/// The symbols of a token's payload (RFC 4648 base32, lowercase).
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Numerals of a compact token's payload: 18 × 5 = 90 bits.
const COMPACT_NUMERALS: usize = 18;
/// Leading numerals of a compact plaintext that must be zero: 8 × 5 = 40 bits.
const COMPACT_CHECK: usize = 8;

const HASH_CHARS: usize = 16;

fn base32_lower() -> &'static Encoding {
    static ENC: OnceLock<Encoding> = OnceLock::new();
    ENC.get_or_init(|| {
        let mut spec = BASE32_NOPAD.specification();
        spec.symbols = "abcdefghijklmnopqrstuvwxyz234567".to_owned();
        spec.encoding().expect("valid base32 spec")
    })
}

/// 18 radix-32 numerals in a `u128` (numeral 0 in the top 5 of its 90 bits): FF1's
/// numeral string for compact tokens. fpe's own `FlexibleNumeralString` does the same with
/// a big integer per round (5 µs a token); here every step is a shift and a mask, and a
/// test checks both give the same ciphertexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Numerals(u128);

/// One half of [`Numerals`]: 9 numerals, 45 bits.
struct Half(u64);

const HALF_BITS: u32 = 45;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;

impl Numerals {
    fn parse(payload: &str) -> Option<Numerals> {
        payload.bytes().try_fold(Numerals(0), |n, b| {
            let d = ALPHABET.iter().position(|&a| a == b)?;
            Some(Numerals(n.0 << 5 | d as u128))
        })
    }

    fn symbols(self) -> impl Iterator<Item = u8> {
        (0..COMPACT_NUMERALS)
            .rev()
            .map(move |i| ALPHABET[(self.0 >> (5 * i) & 31) as usize])
    }
}

/// A big-endian number in its last `len` bytes.
struct BeBytes([u8; 8], usize);

impl AsRef<[u8]> for BeBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0[8 - self.1..]
    }
}

impl fpe::ff1::NumeralString for Numerals {
    type Ops = Half;

    fn is_valid(&self, radix: u32) -> bool {
        radix == 32 && self.0 >> (2 * HALF_BITS) == 0
    }

    fn numeral_count(&self) -> usize {
        COMPACT_NUMERALS
    }

    fn split(&self) -> (Half, Half) {
        (
            Half((self.0 >> HALF_BITS) as u64),
            Half(self.0 as u64 & HALF_MASK),
        )
    }

    fn concat(a: Half, b: Half) -> Numerals {
        Numerals(u128::from(a.0) << HALF_BITS | u128::from(b.0))
    }
}

impl Half {
    /// `y mod 32^9` of a big-endian byte string: its low 45 bits.
    fn low_bits(y: impl Iterator<Item = u8>) -> u64 {
        y.fold(0u64, |acc, b| (acc << 8 | u64::from(b)) & HALF_MASK)
    }
}

impl fpe::ff1::Operations for Half {
    type Bytes = BeBytes;

    fn numeral_count(&self) -> usize {
        COMPACT_NUMERALS / 2
    }

    fn to_be_bytes(&self, radix: u32, b: usize) -> BeBytes {
        debug_assert!(radix == 32 && b <= 8);
        BeBytes(self.0.to_be_bytes(), b.min(8))
    }

    fn add_mod_exp(self, other: impl Iterator<Item = u8>, radix: u32, m: usize) -> Half {
        debug_assert!(radix == 32 && m == COMPACT_NUMERALS / 2);
        Half(self.0.wrapping_add(Half::low_bits(other)) & HALF_MASK)
    }

    fn sub_mod_exp(self, other: impl Iterator<Item = u8>, radix: u32, m: usize) -> Half {
        debug_assert!(radix == 32 && m == COMPACT_NUMERALS / 2);
        Half(self.0.wrapping_sub(Half::low_bits(other)) & HALF_MASK)
    }
}

/// The number of a phone in E.164 form (`+`, 1-15 digits, no leading zero), which a
/// compact token can hold.
fn compact_number(normalized: &str) -> Option<u64> {
    let digits = normalized.strip_prefix('+')?;
    let ok = (1..=15).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| digits.parse().ok()).flatten()
}

/// Why a key ring could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("line {line}: expected `<id> <base64 secret>`")]
    Syntax { line: usize },
    #[error("line {line}: key id {id:?} must be 1-8 characters of [a-z0-9]")]
    BadId { line: usize, id: String },
    #[error("line {line}: key {id:?}: the secret is not valid base64")]
    BadBase64 { line: usize, id: String },
    #[error("line {line}: key {id:?}: the secret must be at least 32 bytes, got {len}")]
    TooShort { line: usize, id: String, len: usize },
    #[error("line {line}: key id {id:?} is listed twice")]
    Duplicate { line: usize, id: String },
    #[error("no key found")]
    Empty,
    #[error("cannot read the system random source: {0}")]
    Random(String),
}

struct Key {
    id: String,
    siv: [u8; 64],
    hmac: [u8; 32],
    /// FF1 over radix 32, for compact tokens.
    ff1: FF1<Aes256>,
}

impl Key {
    fn derive(id: &str, secret: &[u8]) -> Key {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"veil key derivation v1"), secret);
        let mut siv = [0u8; 64];
        let mut hmac = [0u8; 32];
        let mut ff1 = [0u8; 32];
        hk.expand(b"veil token v1", &mut siv)
            .expect("64 bytes is a valid HKDF length");
        hk.expand(b"veil hash v1", &mut hmac)
            .expect("32 bytes is a valid HKDF length");
        hk.expand(b"veil compact token v1", &mut ff1)
            .expect("32 bytes is a valid HKDF length");
        Key {
            id: id.to_owned(),
            siv,
            hmac,
            ff1: FF1::new(&ff1, 32).expect("32 is a valid FF1 radix"),
        }
    }
}

/// The token keys: one active key that makes new tokens, older keys that still decrypt.
pub struct KeyRing {
    keys: Vec<Key>,
    ephemeral: bool,
    /// Unique per ring made in this process: caches of tokens made with it are keyed by it,
    /// so a reloaded key file never serves a token of the old keys.
    generation: u64,
}

use crate::next_generation;

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("KeyRing")
            .field("ids", &ids)
            .field("ephemeral", &self.ephemeral)
            .finish()
    }
}

impl KeyRing {
    /// Parses a key file: one `<id> <base64 secret>` per line, `#` comments; the first key
    /// is the active one. Commas may separate entries too, so the same text fits in an
    /// environment variable.
    pub fn parse(text: &str) -> Result<KeyRing, KeyError> {
        let mut keys: Vec<Key> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            for entry in raw.split(',') {
                let entry = entry.split('#').next().unwrap_or("").trim();
                if entry.is_empty() {
                    continue;
                }
                let mut parts = entry.split_whitespace();
                let (Some(id), Some(secret), None) = (parts.next(), parts.next(), parts.next())
                else {
                    return Err(KeyError::Syntax { line });
                };
                let id_ok = (1..=8).contains(&id.len())
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
                if !id_ok {
                    return Err(KeyError::BadId {
                        line,
                        id: id.to_owned(),
                    });
                }
                if keys.iter().any(|k| k.id == id) {
                    return Err(KeyError::Duplicate {
                        line,
                        id: id.to_owned(),
                    });
                }
                let secret = BASE64
                    .decode(secret.as_bytes())
                    .map_err(|_| KeyError::BadBase64 {
                        line,
                        id: id.to_owned(),
                    })?;
                if secret.len() < 32 {
                    return Err(KeyError::TooShort {
                        line,
                        id: id.to_owned(),
                        len: secret.len(),
                    });
                }
                keys.push(Key::derive(id, &secret));
            }
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(KeyRing {
            keys,
            ephemeral: false,
            generation: next_generation(),
        })
    }

    /// A ring with one random key, for demos and previews: its tokens die with the process.
    pub fn ephemeral() -> Result<KeyRing, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(KeyRing {
            keys: vec![Key::derive("e0", &secret)],
            ephemeral: true,
            generation: next_generation(),
        })
    }

    /// A fresh key line for a key file (`veil keygen`).
    pub fn generate_line(id: &str) -> Result<String, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(format!("{id} {}", BASE64.encode(&secret)))
    }

    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    pub fn active_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Which ring this is, among the rings this process made.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends the token of `normalized` (of kind `kind`) to `out`.
    pub fn tokenize(&self, kind: &str, normalized: &str, out: &mut String) {
        let key = &self.keys[0];
        out.push_str("vt_");
        out.push_str(kind);
        out.push('_');
        out.push_str(&key.id);
        out.push('_');
        if let Some(number) = compact_number(normalized) {
            // 8 zero numerals, then the number's 10 (it is below 32^10 = 2^50).
            let sealed = key
                .ff1
                .encrypt(kind.as_bytes(), &Numerals(u128::from(number)))
                .expect("18 radix-32 numerals");
            out.extend(sealed.symbols().map(char::from));
            return;
        }
        let mut cipher = Aes256Siv::new((&key.siv).into());
        let sealed = cipher
            .encrypt([kind.as_bytes()], normalized.as_bytes())
            .expect("AES-SIV encryption of a bounded value cannot fail");
        base32_lower().encode_append(&sealed, out);
    }

    /// Decrypts a token (the whole string must be one token). `None` if it is not a token,
    /// its key is unknown, or it fails authentication.
    pub fn detokenize(&self, token: &str) -> Option<(String, String)> {
        let rest = token.strip_prefix("vt_")?;
        let (kind, rest) = rest.split_once('_')?;
        let (id, payload) = rest.split_once('_')?;
        let key = self.keys.iter().find(|k| k.id == id)?;
        if payload.len() == COMPACT_NUMERALS {
            let sealed = Numerals::parse(payload)?;
            let plain = key.ff1.decrypt(kind.as_bytes(), &sealed).ok()?.0;
            // The 8 leading numerals (40 bits) must come back zero.
            if plain >> (5 * (COMPACT_NUMERALS - COMPACT_CHECK)) != 0 {
                return None;
            }
            let number = plain as u64;
            if number == 0 || number >= 1_000_000_000_000_000 {
                return None;
            }
            return Some((kind.to_owned(), format!("+{number}")));
        }
        let sealed = base32_lower().decode(payload.as_bytes()).ok()?;
        let mut cipher = Aes256Siv::new((&key.siv).into());
        let plain = cipher.decrypt([kind.as_bytes()], &sealed).ok()?;
        Some((kind.to_owned(), String::from_utf8(plain).ok()?))
    }

    /// Appends the keyed hash of `normalized` to `out`.
    pub fn hash(&self, kind: &str, normalized: &str, out: &mut String) {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.keys[0].hmac)
            .expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(normalized.as_bytes());
        let digest = mac.finalize().into_bytes();
        out.push_str("vh_");
        out.push_str(kind);
        out.push('_');
        let mut encoded = String::with_capacity(52);
        base32_lower().encode_append(&digest, &mut encoded);
        out.push_str(&encoded[..HASH_CHARS]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2 HxwdHhscGRoXGBUWExQREg8QDQ4LDAkKBwgFBgMEAQI=";

    #[test]
    fn token_round_trip_and_shape() {
        let ring = KeyRing::parse(K1).unwrap();
        let mut t = String::new();
        ring.tokenize("phone", "+5511987654321", &mut t);
        assert!(t.starts_with("vt_phone_k1_"), "{t}");
        assert!(!t.contains("5511987654321"));
        let re = regex::Regex::new(&format!("^{TOKEN_PATTERN}$")).unwrap();
        assert!(re.is_match(&t), "{t}");
        assert_eq!(
            ring.detokenize(&t),
            Some(("phone".into(), "+5511987654321".into()))
        );
        // Deterministic.
        let mut t2 = String::new();
        ring.tokenize("phone", "+5511987654321", &mut t2);
        assert_eq!(t, t2);
    }

    #[test]
    fn phone_tokens_are_short_and_every_e164_length_round_trips() {
        let ring = KeyRing::parse(K1).unwrap();
        let demo = KeyRing::parse("demo AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        for phone in [
            "+1",
            "+44",
            "+5511987654321",
            "+551198765432",
            "+999999999999999",
            "+100000000000000",
        ] {
            for r in [&ring, &demo] {
                let mut t = String::new();
                r.tokenize("phone", phone, &mut t);
                assert!(t.len() <= 32, "{t}: {} characters", t.len());
                assert_eq!(
                    r.detokenize(&t),
                    Some(("phone".into(), phone.into())),
                    "{t}"
                );
                assert!(phone.len() < 5 || !t.contains(&phone[1..]), "{t}");
            }
        }
        // Not an E.164 number: the full form, which still round-trips.
        for other in [
            "+05511987654321",
            "+1234567890123456",
            "5511987654321",
            "+55 11",
        ] {
            let mut t = String::new();
            ring.tokenize("phone", other, &mut t);
            assert!(t.len() > 32, "{t}");
            assert_eq!(ring.detokenize(&t).map(|(_, v)| v).as_deref(), Some(other));
        }
    }

    #[test]
    fn the_fast_numerals_encrypt_as_fpe_s_own_numeral_strings() {
        use fpe::ff1::FlexibleNumeralString;
        let ring = KeyRing::parse(K1).unwrap();
        let ff1 = &ring.keys[0].ff1;
        let mut x = 0x0123_4567_89ab_cdefu128;
        for i in 0..500u128 {
            // Every shape of 90 bits: the 50-bit plaintexts of tokens, and any others.
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407 + i);
            let value = if i % 2 == 0 { x >> 78 } else { x >> 38 };
            let ours = Numerals(value);
            let theirs = FlexibleNumeralString::from(
                (0..COMPACT_NUMERALS)
                    .rev()
                    .map(|k| (value >> (5 * k) & 31) as u16)
                    .collect::<Vec<u16>>(),
            );
            for tweak in [&b"phone"[..], b"wamid", b""] {
                let a = ff1.encrypt(tweak, &ours).unwrap();
                let b: Vec<u16> = ff1.encrypt(tweak, &theirs).unwrap().into();
                let b = b.iter().fold(0u128, |n, &d| n << 5 | u128::from(d));
                assert_eq!(a.0, b, "{value:x}");
                assert_eq!(ff1.decrypt(tweak, &a).unwrap(), ours);
            }
        }
    }

    #[test]
    fn compact_tokens_reject_every_single_change() {
        let ring = KeyRing::parse(K1).unwrap();
        let mut t = String::new();
        ring.tokenize("phone", "+5511987654321", &mut t);
        let payload_at = t.len() - COMPACT_NUMERALS;
        // Each position, each other symbol: 18 × 31 altered tokens, none decrypts.
        for i in payload_at..t.len() {
            for &c in ALPHABET {
                let mut altered = t.clone().into_bytes();
                if altered[i] == c {
                    continue;
                }
                altered[i] = c;
                let altered = String::from_utf8(altered).unwrap();
                assert_eq!(ring.detokenize(&altered), None, "{altered}");
            }
        }
        // Another kind, another key: no.
        assert_eq!(
            ring.detokenize(&t.replacen("vt_phone_", "vt_wamid_", 1)),
            None
        );
        assert_eq!(
            KeyRing::parse(K2)
                .unwrap()
                .detokenize(&t.replacen("_k1_", "_k2_", 1)),
            None
        );
        // Random payloads: about 2^-40 pass each; none of 20 000 should.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut forged = String::from("vt_phone_k1_");
            for _ in 0..COMPACT_NUMERALS {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                forged.push(char::from(ALPHABET[(state % 32) as usize]));
            }
            assert_eq!(ring.detokenize(&forged), None, "{forged}");
        }
    }

    #[test]
    fn kind_is_authenticated_and_tampering_fails() {
        let ring = KeyRing::parse(K1).unwrap();
        let mut t = String::new();
        ring.tokenize("phone", "+5511987654321", &mut t);
        let as_email = t.replacen("vt_phone_", "vt_email_", 1);
        assert_eq!(ring.detokenize(&as_email), None);
        let mut tampered = t.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'a' { b'b' } else { b'a' };
        assert_eq!(ring.detokenize(&String::from_utf8(tampered).unwrap()), None);
    }

    #[test]
    fn rotation_keeps_old_tokens_readable() {
        let old = KeyRing::parse(K1).unwrap();
        let mut t = String::new();
        old.tokenize("email", "maria@example.com", &mut t);
        let rotated = KeyRing::parse(&format!("{K2}\n{K1}")).unwrap();
        assert_eq!(rotated.active_id(), "k2");
        assert_eq!(
            rotated.detokenize(&t).map(|(_, v)| v).as_deref(),
            Some("maria@example.com")
        );
        let mut fresh = String::new();
        rotated.tokenize("email", "maria@example.com", &mut fresh);
        assert!(fresh.starts_with("vt_email_k2_"));
        // A ring without the old key cannot read it.
        let only_new = KeyRing::parse(K2).unwrap();
        assert_eq!(only_new.detokenize(&t), None);
    }

    #[test]
    fn hash_is_stable_and_irreversible_looking() {
        let ring = KeyRing::parse(K1).unwrap();
        let (mut a, mut b, mut c) = (String::new(), String::new(), String::new());
        ring.hash("phone", "+5511987654321", &mut a);
        ring.hash("phone", "+5511987654321", &mut b);
        ring.hash("phone", "+4915123456789", &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), "vh_phone_".len() + HASH_CHARS);
    }

    #[test]
    fn bad_key_files_are_rejected_with_the_line() {
        assert!(matches!(
            KeyRing::parse("k1 c2hvcnQ="),
            Err(KeyError::TooShort { line: 1, .. })
        ));
        assert!(matches!(
            KeyRing::parse("# c\nK1 AAAA"),
            Err(KeyError::BadId { line: 2, .. })
        ));
        assert!(matches!(
            KeyRing::parse(&format!("{K1}\n{K1}")),
            Err(KeyError::Duplicate { line: 2, .. })
        ));
        assert!(matches!(KeyRing::parse("# nothing"), Err(KeyError::Empty)));
        let dbg = format!("{:?}", KeyRing::parse(K1).unwrap());
        assert!(!dbg.contains("AAECAw"), "{dbg}");
    }
}
