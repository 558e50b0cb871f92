//! Generated bench inputs (deterministic: a fixed-seed generator, no files) and the masker
//! setup shared by the benches.
#![allow(dead_code)]
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use veil::cli::test::TEST_KEYS;
use veil::engine::token::KeyRing;
use veil::engine::vocab::plan::MaskPlan;

pub mod docs;

/// The allocator the `veil` binary runs with (src/main.rs), for the maskers and the
/// baselines alike (since session 6; glibc's before).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A small xorshift generator: the same inputs on every machine and run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// The plan for `path` and `role` with the shipped rules.
pub fn plan(path: &str, role: &str) -> MaskPlan {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let (set, _) = veil::rules::load_dir(&dir).expect("the shipped rules compile");
    let keys = Arc::new(KeyRing::parse(TEST_KEYS).unwrap());
    let route = set.route_for("GET", path, false);
    set.plan(route, set.role(role).unwrap(), &keys)
}

const OPENERS: &[&str] = &[
    "Olá, tudo bem?",
    "Bom dia! Meu pedido ainda não chegou.",
    "Oi, gostaria de saber o prazo de entrega para São Paulo.",
    "Hello, I ordered the blue one last week, any news?",
    "Thanks a lot, that solved it 😊",
    "Guten Tag, die Bestellung ist heute angekommen, aber die Größe passt nicht.",
    "Können Sie mir bitte eine Rechnung schicken?",
    "Perfeito, obrigada pela ajuda!",
    "Pode me mandar o boleto de novo? O outro venceu.",
    "Is the store in Hamburg open on Saturday?",
    "Vou verificar com o setor de logística e já te retorno.",
    "Ich warte seit drei Tagen auf eine Antwort.",
    "Your order 58213 ships tomorrow, tracking will follow by e-mail.",
    "Pedido 58213 saiu para entrega às 14h.",
    "Can I change the delivery address?",
];

/// One chat line; about one in twenty holds a phone number or an e-mail address.
pub fn chat_line(rng: &mut Rng) -> String {
    let mut s = rng.pick(OPENERS).to_string();
    if rng.below(3) == 0 {
        s.push(' ');
        s.push_str(rng.pick(OPENERS));
    }
    if rng.below(20) == 0 {
        let pii = match rng.below(4) {
            0 => format!("+55 11 9{}-{}", rng.digits(4), rng.digits(4)),
            1 => format!("+49 151 {}", rng.digits(8)),
            2 => format!("(21) 9{}-{}", rng.digits(4), rng.digits(4)),
            _ => format!("cliente{}@example.com", rng.digits(3)),
        };
        let tpl = rng.pick(&[
            "Meu número novo é {}.",
            "You can reach me at {} after 6pm.",
            "Bitte rufen Sie mich unter {} an.",
        ]);
        s.push(' ');
        s.push_str(&tpl.replace("{}", &pii));
    }
    s
}

/// `n` bytes (or a little more) of chat lines, one per line.
pub fn chat_text(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut lines = Vec::new();
    let mut len = 0;
    while len < n {
        let l = chat_line(&mut rng);
        len += l.len() + 1;
        lines.push(l);
    }
    lines
}

/// lol_html rewriting with no handlers: the HTML parser alone.
pub fn lol_html_no_handlers(doc: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut r = lol_html::HtmlRewriter::new(lol_html::Settings::new(), |c: &[u8]| {
        out.extend_from_slice(c)
    });
    for c in doc.chunks(16 * 1024) {
        r.write(c).unwrap();
    }
    r.end().unwrap();
}

/// lol_html with the handlers the HTML masker registers (every element, every text chunk,
/// every comment) doing nothing: what the parser costs once content handlers are on.
pub fn lol_html_empty_handlers(doc: &[u8], out: &mut Vec<u8>) {
    use lol_html::html_content::{Comment, Element, TextChunk};
    out.clear();
    let settings = lol_html::Settings::new()
        .append_element_content_handler(lol_html::element!("*", |_: &mut Element<'_, '_>| Ok(())))
        .append_document_content_handler(lol_html::doc_text!(|_: &mut TextChunk<'_>| Ok(())))
        .append_document_content_handler(lol_html::doc_comments!(|_: &mut Comment<'_>| Ok(())));
    let mut r = lol_html::HtmlRewriter::new(settings, |c: &[u8]| out.extend_from_slice(c));
    for c in doc.chunks(16 * 1024) {
        r.write(c).unwrap();
    }
    r.end().unwrap();
}

/// The least work any masker on lol_html must do on the inbox page: the handlers of
/// [`lol_html_empty_handlers`], every attribute's name read, the values of `href` and
/// `data-*` read, and the page's changes made (each `tel:`/`mailto:` link and each text
/// fragment holding `+` or `@` replaced by a fixed token), with no detection at all. It
/// knows the page: a text node is taken to hold a value only if one of its fragments
/// does, which is wrong in general (a value split across chunks) and right enough here to
/// bound what the rewriter's mutations cost.
pub fn lol_html_page_changes_only(doc: &[u8], out: &mut Vec<u8>) {
    use lol_html::html_content::{Comment, ContentType, Element, TextChunk};
    out.clear();
    let settings = lol_html::Settings::new()
        .append_element_content_handler(lol_html::element!("*", |el: &mut Element<'_, '_>| {
            let mut link = None;
            for a in el.attributes() {
                let name = a.name();
                if name == "href" {
                    let v = a.value();
                    if v.starts_with("tel:") {
                        link = Some("tel:vt_phone_k1_AAAAAAAAAAAAAAAAAAAAAA");
                    } else if v.starts_with("mailto:") {
                        link = Some("mailto:vt_email_k1_AAAAAAAAAAAAAAAAAAAAAA");
                    }
                } else if name.starts_with("data-") {
                    black_box(a.value());
                }
            }
            if let Some(v) = link {
                el.set_attribute("href", v)?;
            }
            Ok(())
        }))
        .append_document_content_handler(lol_html::doc_text!(|t: &mut TextChunk<'_>| {
            if t.as_str().bytes().any(|b| b == b'+' || b == b'@') {
                t.replace("vt_phone_k1_AAAAAAAAAAAAAAAAAAAAAA", ContentType::Html);
            }
            Ok(())
        }))
        .append_document_content_handler(lol_html::doc_comments!(|_: &mut Comment<'_>| Ok(())));
    let mut r = lol_html::HtmlRewriter::new(settings, |c: &[u8]| out.extend_from_slice(c));
    for c in doc.chunks(16 * 1024) {
        r.write(c).unwrap();
    }
    r.end().unwrap();
}
