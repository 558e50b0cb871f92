//! What happens to a value once found: the actions of the rule language.
use crate::token::KeyRing;

/// One action, as a role's rules give it for a kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the value as it is.
    Clear,
    /// Replace it with fixed text.
    Redact { text: Box<str> },
    /// Replace letters and digits with `ch`, keeping separators and exactly the first
    /// `keep_first` and the last `keep_last` of them (`+55 11 •••••-4321`), never more than
    /// half of a short value's. An address's domain is kept only with `keep_domain`
    /// (`•••••.••va@example.com`); the counts then apply to the local part.
    Mask {
        keep_first: u8,
        keep_last: u8,
        ch: char,
        keep_domain: bool,
    },
    /// Keyed hash of the normalized value: stable, irreversible.
    Hash,
    /// Reversible token of the normalized value: agents can search and reply with it.
    Token,
}

impl Action {
    /// The default redaction text for a kind.
    pub fn redact_default(kind: &str) -> Action {
        Action::Redact {
            text: format!("[redacted:{kind}]").into(),
        }
    }

    /// How much of the value the action hides; the most restrictive is `Redact`.
    /// Used to pick an action where a role names none for a kind.
    pub fn restrictiveness(&self) -> u8 {
        match self {
            Action::Clear => 0,
            Action::Mask { .. } => 1,
            Action::Token => 2,
            Action::Hash => 3,
            Action::Redact { .. } => 4,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Action::Clear => "clear",
            Action::Redact { .. } => "redact",
            Action::Mask { .. } => "mask",
            Action::Hash => "hash",
            Action::Token => "token",
        }
    }

    /// Appends the replacement of `raw` (whose canonical form is `normalized`) to `out`.
    pub fn apply(&self, kind: &str, raw: &str, normalized: &str, keys: &KeyRing, out: &mut String) {
        match self {
            Action::Clear => out.push_str(raw),
            Action::Redact { text } => out.push_str(text),
            Action::Hash => keys.hash(kind, normalized, out),
            Action::Token => keys.tokenize(kind, normalized, out),
            Action::Mask {
                keep_first,
                keep_last,
                ch,
                keep_domain,
            } => {
                let (first, last) = (usize::from(*keep_first), usize::from(*keep_last));
                match raw
                    .rsplit_once('@')
                    .filter(|(l, _)| *keep_domain && !l.is_empty())
                {
                    Some((local, domain)) => {
                        mask_chars(local, first, last, *ch, out);
                        out.push('@');
                        out.push_str(domain);
                    }
                    None => mask_chars(raw, first, last, *ch, out),
                }
            }
        }
    }
}

/// Masks every letter and digit of `raw` but the first `keep_first` and the last
/// `keep_last`; separators stay. A value no longer than both together keeps at most half
/// of its letters and digits (fewer from the end first): a mask never shows a value whole.
fn mask_chars(raw: &str, keep_first: usize, keep_last: usize, ch: char, out: &mut String) {
    let total = raw.chars().filter(|c| c.is_alphanumeric()).count();
    let budget = total / 2;
    let (keep_first, keep_last) = if keep_first + keep_last >= total {
        let first = keep_first.min(budget);
        (first, keep_last.min(budget - first))
    } else {
        (keep_first, keep_last)
    };
    let mut seen = 0;
    for c in raw.chars() {
        if c.is_alphanumeric() {
            seen += 1;
            if seen <= keep_first || seen + keep_last > total {
                out.push(c);
            } else {
                out.push(ch);
            }
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_with(raw: &str, first: u8, last: u8, keep_domain: bool) -> String {
        let mut out = String::new();
        let keys = KeyRing::ephemeral().unwrap();
        Action::Mask {
            keep_first: first,
            keep_last: last,
            ch: '•',
            keep_domain,
        }
        .apply("x", raw, raw, &keys, &mut out);
        out
    }

    fn mask(raw: &str, first: u8, last: u8) -> String {
        mask_with(raw, first, last, false)
    }

    #[test]
    fn mask_keeps_separators_and_exactly_the_ends_it_is_told() {
        assert_eq!(mask("+55 11 98765-4321", 4, 4), "+55 11 •••••-4321");
        assert_eq!(mask("+5511987654321", 0, 4), "+•••••••••4321");
        assert_eq!(mask("123.456.789-09", 0, 2), "•••.•••.•••-09");
        // An address shows nothing it is not told to, its domain included.
        assert_eq!(
            mask("maria.silva@example.com", 0, 0),
            "•••••.•••••@•••••••.•••"
        );
        assert_eq!(mask("a@example.com", 0, 0), "•@•••••••.•••");
        assert_eq!(
            mask("maria.silva@example.com", 0, 4),
            "•••••.•••••@••••••e.com"
        );
        // The domain only when the role says so; the counts then apply to the local part.
        assert_eq!(
            mask_with("maria.silva@example.com", 0, 2, true),
            "•••••.•••va@example.com"
        );
        assert_eq!(mask_with("a@example.com", 1, 0, true), "•@example.com");
        // Whatever follows an `@` in something else (a handle, a CPF) is masked like the rest.
        assert_eq!(mask("@maria_silva", 1, 0), "@m••••_•••••");
        assert_eq!(
            mask_with("pago @ 123.456.789-09", 0, 2, false),
            "•••• @ •••.•••.•••-09"
        );
        // A short value never shows more than half of itself.
        assert_eq!(mask("12", 0, 4), "•2");
        assert_eq!(mask("ab", 1, 1), "a•");
        assert_eq!(mask("x", 0, 4), "•");
    }

    proptest::proptest! {
        /// A masked value keeps its separators and at most `keep_first + keep_last` of its
        /// letters and digits (at most half of a value no longer than that); with `keep_domain`, the domain and at
        /// most that many of the local part.
        #[test]
        fn a_mask_never_keeps_more_than_it_says(
            raw in "[A-Za-z0-9 .@_+()-]{0,40}",
            first in 0u8..8,
            last in 0u8..8,
            keep_domain in proptest::bool::ANY,
        ) {
            let out = mask_with(&raw, first, last, keep_domain);
            let (masked_part, raw_part) = match raw.rsplit_once('@').filter(|(l, _)| keep_domain && !l.is_empty()) {
                Some((local, domain)) => {
                    let tail = format!("@{}", domain);
                    proptest::prop_assert!(out.ends_with(&tail));
                    (out[..out.len() - domain.len() - 1].to_owned(), local.to_owned())
                }
                None => (out.clone(), raw.clone()),
            };
            let alnum = raw_part.chars().filter(|c| c.is_alphanumeric()).count();
            let kept = masked_part.chars().filter(|c| c.is_alphanumeric()).count();
            proptest::prop_assert!(kept <= usize::from(first) + usize::from(last));
            if usize::from(first) + usize::from(last) >= alnum {
                proptest::prop_assert!(kept <= alnum / 2);
            }
            proptest::prop_assert_eq!(masked_part.chars().count(), raw_part.chars().count());
            for (a, b) in raw_part.chars().zip(masked_part.chars()) {
                proptest::prop_assert!(a == b || (a.is_alphanumeric() && b == '•'));
            }
        }
    }
}
