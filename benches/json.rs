//! The streaming JSON masker (16 KiB chunks, role `agent`) on three generated documents,
//! each beside two baselines measured in the same run: copying the bytes, and a
//! `serde_json` parse to `Value` and back.
//!
//! * `chatwoot`: ~1 MB of a Chatwoot contacts list and conversations list (the shapes of
//!   `GET /api/v1/accounts/1/contacts` and `…/conversations`), about one PII value per
//!   200 bytes;
//! * `sparse`: long chat messages, almost no PII;
//! * `dense`: a twitter.json-like document: many short strings, numbers and literals.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use veil::engine::json::JsonMasker;
use veil::engine::plan::MaskPlan;
use veil::engine::Masker;

mod common;
use common::Rng;

const CHUNK: usize = 16 * 1024;
const NAMES: &[&str] = &[
    "Maria Aparecida da Silva",
    "Jürgen Müller",
    "João Gonçalves",
    "Priya Venkataraman",
    "Dewi Lestari 🌸",
    "Andrés Felipe Ramírez",
    "Ana Beatriz Souza",
    "Lucas Pereira",
];
const CITIES: &[&str] = &["São Paulo", "Hamburg", "Lisboa", "Medellín", "Bengaluru"];

fn phone(rng: &mut Rng) -> String {
    format!("+55119{}", rng.digits(8))
}

fn contact(rng: &mut Rng, id: usize) -> Value {
    let p = phone(rng);
    json!({
        "additional_attributes": {
            "city": rng.pick(CITIES), "country": "Brazil", "country_code": "BR",
            "company_name": "", "description": "Cliente desde 2021",
            "social_profiles": {"facebook": "", "github": "", "instagram": format!("perfil.{}", rng.digits(3)),
                                 "tiktok": "", "linkedin": "", "twitter": ""}
        },
        "availability_status": "online",
        "email": format!("cliente{}@example.com", rng.digits(5)),
        "id": id,
        "name": rng.pick(NAMES),
        "phone_number": p,
        "blocked": false,
        "identifier": null,
        "thumbnail": "",
        "custom_attributes": {"cpf": "123.456.789-09", "plano": "premium", "data_nascimento": "1987-03-14"},
        "last_activity_at": 1763647260 + id,
        "created_at": 1729080000,
        "contact_inboxes": [{"source_id": p.trim_start_matches('+'),
            "inbox": {"id": 3, "avatar_url": "", "channel_id": 1, "name": "WhatsApp Vendas",
                      "channel_type": "Channel::Whatsapp", "provider": "whatsapp_cloud"}}]
    })
}

fn message(rng: &mut Rng, id: usize, conv: usize) -> Value {
    let content = common::chat_line(rng);
    json!({
        "id": id, "content": content, "account_id": 1, "inbox_id": 3, "conversation_id": conv,
        "message_type": rng.below(2), "created_at": 1763647260 + id,
        "updated_at": "2025-11-20T14:01:01.274Z", "private": false, "status": "delivered",
        "source_id": format!("wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEj{}OAA=", rng.digits(12)),
        "content_type": "text", "content_attributes": {}, "sender_type": "User", "sender_id": 7,
        "external_source_ids": {}, "additional_attributes": {},
        "processed_message_content": content, "sentiment": {},
        "conversation": {"assignee_id": 7, "unread_count": 0, "last_activity_at": 1763647260,
                         "contact_inbox": {"source_id": format!("55119{}", rng.digits(8))}},
        "sender": {"id": 7, "name": "Carla Mendes", "available_name": "Carla", "avatar_url": "",
                   "type": "user", "availability_status": "online", "thumbnail": ""}
    })
}

fn conversation(rng: &mut Rng, id: usize) -> Value {
    let messages: Vec<Value> = (0..2).map(|k| message(rng, id * 10 + k, id)).collect();
    let last = messages[1].clone();
    json!({
        "meta": {"sender": contact(rng, 100 + id), "channel": "Channel::Whatsapp",
                 "assignee": {"id": 7, "account_id": 1, "availability_status": "online",
                              "auto_offline": true, "confirmed": true,
                              "email": "carla.mendes@loja.example.com", "provider": "email",
                              "available_name": "Carla", "name": "Carla Mendes", "role": "agent",
                              "thumbnail": "", "custom_role_id": null},
                 "assignee_type": "User", "hmac_verified": false},
        "id": id, "messages": messages, "account_id": 1,
        "uuid": format!("57414431-c620-4f5c-a69e-{}", rng.digits(12)),
        "additional_attributes": {}, "agent_last_seen_at": 1763647260, "can_reply": true,
        "custom_attributes": {"numero_pedido": rng.digits(5)}, "inbox_id": 3,
        "labels": ["pedido"], "muted": false, "snoozed_until": null, "status": "open",
        "created_at": 1763647000, "updated_at": 1763647260.391824, "timestamp": 1763647260,
        "unread_count": 0, "last_non_activity_message": last, "priority": null,
        "waiting_since": 0, "sla_policy_id": null
    })
}

/// ~1 MB: a contacts page and a conversations page, concatenated as one JSON array.
fn chatwoot() -> Vec<u8> {
    let mut rng = Rng::new(11);
    let contacts: Vec<Value> = (0..600).map(|i| contact(&mut rng, i)).collect();
    let conversations: Vec<Value> = (0..220).map(|i| conversation(&mut rng, i)).collect();
    let doc = json!([
        {"meta": {"count": contacts.len(), "current_page": "1"}, "payload": contacts},
        {"data": {"meta": {"mine_count": 3, "all_count": conversations.len()}, "payload": conversations}}
    ]);
    serde_json::to_vec(&doc).unwrap()
}

/// ~1 MB of long message bodies (2–8 KB each), almost no PII.
fn sparse() -> Vec<u8> {
    let mut rng = Rng::new(23);
    let mut items = Vec::new();
    let mut len = 0;
    while len < 1 << 20 {
        let target = 2048 + rng.below(6144);
        let mut body = String::new();
        while body.len() < target {
            // Long text without PII: the openers only.
            let l = common::chat_line(&mut rng);
            if !l.contains('@') && !l.contains("+") && !l.contains('(') {
                body.push_str(&l);
                body.push(' ');
            }
        }
        len += body.len() + 40;
        items.push(json!({"id": items.len(), "subject": "Re: pedido", "body": body}));
    }
    serde_json::to_vec(&json!({"messages_export": items})).unwrap()
}

/// ~1 MB twitter.json-like: statuses with users, entities, short strings and numbers.
fn dense() -> Vec<u8> {
    let mut rng = Rng::new(31);
    let mut statuses = Vec::new();
    let mut len = 0;
    while len < 1 << 20 {
        let id = 505874924095815681u64 + rng.next() % 1_000_000;
        let s = json!({
            "created_at": "Sun Aug 31 00:29:15 +0000 2014", "id": id, "id_str": id.to_string(),
            "text": rng.pick(&["@aym0566x 名前:前田あゆみ", "RT @KATANA77: えっそれは・・・", "good morning", "ok"]),
            "source": "<a href=\"http://twitter.com/download/iphone\" rel=\"nofollow\">Twitter for iPhone</a>",
            "truncated": false, "in_reply_to_status_id": null, "in_reply_to_user_id": 866260188,
            "user": {"id": 1186275104, "id_str": "1186275104", "name": "AYUMI", "screen_name": "ayuu0123",
                     "location": "", "description": "元野球部マネージャー❤︎…最高の夏をありがとう…❤︎",
                     "url": null, "protected": false, "followers_count": 262, "friends_count": 252,
                     "listed_count": 0, "created_at": "Sat Feb 16 13:40:25 +0000 2013",
                     "favourites_count": 235, "utc_offset": null, "time_zone": null,
                     "geo_enabled": false, "verified": false, "statuses_count": 1769, "lang": "en",
                     "profile_background_color": "C0DEED", "profile_link_color": "0084B4",
                     "default_profile": true, "following": false},
            "geo": null, "coordinates": null, "place": null, "retweet_count": rng.below(100),
            "favorite_count": rng.below(100),
            "entities": {"hashtags": [], "symbols": [], "urls": [],
                         "user_mentions": [{"screen_name": "aym0566x", "name": "前田あゆみ",
                                            "id": 586671909, "id_str": "586671909", "indices": [0, 9]}]},
            "favorited": false, "retweeted": false, "lang": "ja"
        });
        len += serde_json::to_vec(&s).unwrap().len();
        statuses.push(s);
    }
    serde_json::to_vec(&json!({"statuses": statuses, "search_metadata": {"count": 100}})).unwrap()
}

fn mask_chunked(plan: &MaskPlan, doc: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut m = JsonMasker::new(plan.clone());
    for chunk in doc.chunks(CHUNK) {
        m.push(chunk, out).unwrap();
    }
    m.finish(out).unwrap();
}

fn json(c: &mut Criterion) {
    let agent = common::plan("/api/v1/accounts/1/conversations", "agent");
    let admin = common::plan("/api/v1/accounts/1/conversations", "admin");
    let docs = [
        ("chatwoot", chatwoot()),
        ("sparse", sparse()),
        ("dense", dense()),
    ];
    let mut g = c.benchmark_group("json");
    let mut out = Vec::with_capacity(4 << 20);
    for (name, doc) in &docs {
        mask_chunked(&agent, doc, &mut out);
        serde_json::from_slice::<Value>(&out).expect("masked output is JSON");
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_with_input(BenchmarkId::new("baseline-copy", name), doc, |b, doc| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(black_box(doc));
                black_box(out.len())
            })
        });
        g.bench_with_input(
            BenchmarkId::new("baseline-serde-roundtrip", name),
            doc,
            |b, doc| {
                b.iter(|| {
                    let v: Value = serde_json::from_slice(black_box(doc)).unwrap();
                    black_box(serde_json::to_vec(&v).unwrap().len())
                })
            },
        );
        // Cold: every number of the document goes through libphonenumber and every value is
        // tokenized once, as for a document never seen before (the per-thread verdict and
        // token caches are cleared first).
        g.bench_with_input(BenchmarkId::new("veil-agent", name), doc, |b, doc| {
            b.iter(|| {
                veil::engine::clear_thread_caches();
                mask_chunked(&agent, black_box(doc), &mut out);
                black_box(out.len())
            })
        });
        // Warm: the same contacts again (many agents loading the same lists).
        g.bench_with_input(BenchmarkId::new("veil-agent-warm", name), doc, |b, doc| {
            b.iter(|| {
                mask_chunked(&agent, black_box(doc), &mut out);
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("veil-admin", name), doc, |b, doc| {
            b.iter(|| {
                mask_chunked(&admin, black_box(doc), &mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, json);
criterion_main!(benches);
