//! The label before a number: what a person reads just before it tells them what it is.
//!
//! `Pedido 95727226053`, `Bestellnummer 2398-5999-42`, `Protocolo 20261203123456` are
//! references, whatever a phone numbering plan says of their digits; `tel 912345678`,
//! `WhatsApp: 11 3333-4444`, `Handy 15123456789` are phones even without the separators or
//! the trunk prefix that make a bare number one otherwise. The label is the last word or
//! two before the number, past punctuation (`:`, `#`, `nº`) and a verb (`é`, `is`, `ist`).
//! Words are compared ASCII-case-insensitively, on bytes (no allocation).

use super::national::Scheme;

/// What the words before a number say it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Label {
    /// Nothing (or nothing known).
    #[default]
    None,
    /// A phone label: `tel`, `celular`, `WhatsApp`, `Handy`, `call me`…
    Phone,
    /// A reference: an order, a protocol, an invoice, a tracking number…
    Reference,
    /// A national id's name: `NIF`, `Steuer-ID`, `SSN`, `NIK`, `cédula`, `Aadhaar`.
    Id(Scheme),
}

impl Label {
    /// Not a phone's label: a national number after it is what the label says, not a phone.
    pub fn names_another_kind(self) -> bool {
        matches!(self, Label::Reference | Label::Id(_))
    }

    /// A small number per label (a cache key).
    pub(crate) fn code(self) -> u8 {
        match self {
            Label::None => 0,
            Label::Phone => 1,
            Label::Reference => 2,
            Label::Id(s) => 3 + s.code(),
        }
    }
}

/// National-id labels (lower case).
const IDS: &[(&str, Scheme)] = &[
    ("nif", Scheme::PtNif),
    ("contribuinte", Scheme::PtNif),
    ("nº de contribuinte", Scheme::PtNif),
    ("número de contribuinte", Scheme::PtNif),
    ("numero de contribuinte", Scheme::PtNif),
    ("steuer-id", Scheme::DeIdnr),
    ("steuerid", Scheme::DeIdnr),
    ("steuer-idnr", Scheme::DeIdnr),
    ("idnr", Scheme::DeIdnr),
    ("steueridentifikationsnummer", Scheme::DeIdnr),
    ("identifikationsnummer", Scheme::DeIdnr),
    ("ssn", Scheme::UsSsn),
    ("social security", Scheme::UsSsn),
    ("social security number", Scheme::UsSsn),
    ("social security no", Scheme::UsSsn),
    ("nik", Scheme::IdNik),
    ("ktp", Scheme::IdNik),
    ("no ktp", Scheme::IdNik),
    ("nomor ktp", Scheme::IdNik),
    ("nomor induk kependudukan", Scheme::IdNik),
    ("cédula", Scheme::CoCedula),
    ("cedula", Scheme::CoCedula),
    ("cédula de ciudadanía", Scheme::CoCedula),
    ("cedula de ciudadania", Scheme::CoCedula),
    ("c.c.", Scheme::CoCedula),
    ("aadhaar", Scheme::InAadhaar),
    ("aadhar", Scheme::InAadhaar),
    ("aadhaar no", Scheme::InAadhaar),
    ("uid", Scheme::InAadhaar),
];

/// Phone labels of the shipped regions' languages (lower case).
const PHONE: &[&str] = &[
    "tel",
    "tel.",
    "tlf",
    "tel/whatsapp",
    "fone",
    "telefone",
    "telefon",
    "telefonnummer",
    "telephone",
    "phone",
    "phone number",
    "mobile",
    "mobile number",
    "mobil",
    "mobilnummer",
    "handy",
    "handynummer",
    "rufnummer",
    "cell",
    "cellphone",
    "cel",
    "cel.",
    "celular",
    "número de celular",
    "número de telefone",
    "numero de celular",
    "numero de telefone",
    "móvil",
    "movil",
    "teléfono",
    "telefono",
    "telemóvel",
    "telemovel",
    "whatsapp",
    "whats",
    "zap",
    "wpp",
    "wa",
    "call me",
    "call me at",
    "call me on",
    "ring me",
    "text me",
    "ligue",
    "liga",
    "me liga",
    "ligue para",
    "liga pra",
    "me liga no",
    "me chama no",
    "contato",
    "contacto",
    "contact",
    "meu número",
    "meu numero",
    "mi número",
    "mi numero",
    "my number",
    "meine nummer",
    "unter",
    "nomor",
    "nomor hp",
    "no hp",
    "hp",
    "no. hp",
    "nomor telepon",
    "nomor wa",
    "fax",
];

/// Reference labels (lower case). Longer than the phone labels they end with, where they
/// overlap (`número do pedido` vs `número`), so the longest label decides.
const REFERENCE: &[&str] = &[
    "pedido",
    "número do pedido",
    "numero do pedido",
    "número de pedido",
    "numero de pedido",
    "protocolo",
    "protocol",
    "order",
    "order no",
    "order no.",
    "order number",
    "order id",
    "bestellung",
    "bestellnummer",
    "auftrag",
    "auftragsnummer",
    "rechnung",
    "rechnungsnummer",
    "kundennummer",
    "sendungsnummer",
    "vorgangsnummer",
    "invoice",
    "invoice no",
    "fatura",
    "nota fiscal",
    "nf",
    "nf-e",
    "nfe",
    "chamado",
    "ticket",
    "ticket no",
    "caso",
    "case",
    "tracking",
    "tracking number",
    "rastreio",
    "código de rastreio",
    "codigo de rastreio",
    "referência",
    "referencia",
    "ref",
    "ref.",
    "reference",
    "transação",
    "transacao",
    "transaction",
    "transaction id",
    "nsu",
    "sku",
    "ean",
    "isbn",
    "serial",
    "série",
    "serie",
    "lote",
    "batch",
    "id",
    "pesanan",
    "nomor pesanan",
    "no. pesanan",
    "resi",
    "nomor resi",
    "factura",
    "número de factura",
    "orden",
    "número de orden",
    "encomenda",
    "commande",
    "numéro de commande",
    "facture",
    "colis",
    "suivi",
    "référence",
    "dossier",
];

/// Words between a label and its number (`meu número é …`, `my number is …`, `Nr.`).
const SKIPPED: &[&str] = &[
    "é", "e", "is", "ist", "es", "adalah", "eh", "n", "n.", "no", "no.", "nr", "nr.", "n°",
];

/// How far back a label is looked for.
const WINDOW: usize = 40;

/// Labels by their last word (lower case).
type LabelIndex = rustc_hash::FxHashMap<&'static [u8], Vec<(&'static str, Label)>>;

/// The labels by their last word (lower case): a number candidate costs one lookup of the
/// word before it, not a comparison with every label.
fn by_last_word() -> &'static LabelIndex {
    static INDEX: std::sync::OnceLock<LabelIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = LabelIndex::default();
        let all = PHONE
            .iter()
            .map(|&l| (l, Label::Phone))
            .chain(REFERENCE.iter().map(|&l| (l, Label::Reference)))
            .chain(IDS.iter().map(|&(l, s)| (l, Label::Id(s))));
        for (label, kind) in all {
            let last = label.rsplit(' ').next().unwrap_or(label);
            index
                .entry(last.as_bytes())
                .or_default()
                .push((label, kind));
        }
        index
    })
}

/// The label whose last word ends `window`, if any: the longest one that ends it as a
/// whole word; a national id's before a phone's or a reference's.
fn label_at_end(window: &str) -> Label {
    let last = window.rsplit(char::is_whitespace).next().unwrap_or(window);
    let last = last.trim_start_matches(|c: char| !c.is_alphanumeric());
    let mut key = [0u8; 32];
    let Some(key) = key.get_mut(..last.len()) else {
        return Label::None;
    };
    for (k, b) in key.iter_mut().zip(last.bytes()) {
        *k = b.to_ascii_lowercase();
    }
    let Some(candidates) = by_last_word().get(&key[..]) else {
        return Label::None;
    };
    let rank = |l: Label| match l {
        Label::Id(_) => 2,
        _ => 1,
    };
    candidates
        .iter()
        .filter(|(label, _)| strip_word_suffix(window, label).is_some())
        // The longest label; at the same length a reference over a phone.
        .max_by_key(|(label, kind)| (rank(*kind), label.len(), *kind == Label::Reference))
        .map_or(Label::None, |&(_, kind)| kind)
}

/// The label right before `text[start..]`.
pub fn label_before(text: &str, start: usize) -> Label {
    let mut from = start.saturating_sub(WINDOW);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let mut window = trim_punctuation(&text[from..start]);
    // A verb or a number sign between the label and the number (`é`, `is`, `nº`, `Nr.`):
    // the word before it is the label.
    for _ in 0..2 {
        let last = window.rsplit(' ').next().unwrap_or(window);
        if last.len() == window.len() || !SKIPPED.iter().any(|w| last.eq_ignore_ascii_case(w)) {
            break;
        }
        window = trim_punctuation(&window[..window.len() - last.len()]);
    }
    match label_at_end(window) {
        Label::None => {
            // `NIF PT 501 964 843`: a country prefix between a national id's label and
            // the number.
            let Some((rest, country)) = window.rsplit_once(' ') else {
                return Label::None;
            };
            let prefix = country.len() == 2 && country.bytes().all(|c| c.is_ascii_uppercase());
            match prefix.then(|| label_at_end(trim_punctuation(rest))) {
                Some(id @ Label::Id(_)) => id,
                _ => Label::None,
            }
        }
        label => label,
    }
}

/// `text` without the punctuation and spaces that sit between a label and its number
/// (`Tel.: `, `Order #`, `WhatsApp - `).
fn trim_punctuation(text: &str) -> &str {
    text.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, ':' | '#' | '-' | '–' | '=' | '(' | '[' | '*' | 'º' | '°')
    })
}

/// `text` without `word` at its end, when `word` is there as a whole word
/// (ASCII-case-insensitive).
fn strip_word_suffix<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(word.len())?;
    if !text.is_char_boundary(cut) || !text[cut..].eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &text[..cut];
    let glued = rest
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    (!glued).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(text: &str) -> Label {
        label_before(text, text.len())
    }

    #[test]
    fn labels_in_the_shipped_languages() {
        for phone in [
            "tel ",
            "Tel.: ",
            "meu número é ",
            "Me liga no ",
            "WhatsApp - ",
            "Handy: ",
            "my number is ",
            "Telemóvel ",
            "call me at ",
            "Nomor HP: ",
        ] {
            assert_eq!(label(phone), Label::Phone, "{phone:?}");
        }
        for reference in [
            "Pedido ",
            "Número do pedido: ",
            "Order #",
            "order no. ",
            "Bestellnummer ",
            "Auftragsnummer: ",
            "Protocolo nº ",
            "Rechnung Nr. ",
            "Nomor pesanan ",
        ] {
            assert_eq!(label(reference), Label::Reference, "{reference:?}");
        }
        for (id, scheme) in [
            ("NIF: ", Scheme::PtNif),
            ("meu número de contribuinte é ", Scheme::PtNif),
            ("Steuer-ID ", Scheme::DeIdnr),
            ("SSN# ", Scheme::UsSsn),
            ("No. KTP ", Scheme::IdNik),
            ("Cédula de ciudadanía: ", Scheme::CoCedula),
        ] {
            assert_eq!(label(id), Label::Id(scheme), "{id:?}");
        }
        for none in [
            "",
            "Oi, tudo bem? ",
            "hotel ",
            "Stelefon ",
            "olá ",
            "segue: ",
        ] {
            assert_eq!(label(none), Label::None, "{none:?}");
        }
    }
}
