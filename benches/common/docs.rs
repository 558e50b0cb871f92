//! The generated bench documents (fixed seeds: the same bytes on every machine and run),
//! shared by the criterion benches and the interleaved ratios (`benches/ratios.rs`).
use super::Rng;
use serde_json::{json, Value};

const CONTACT_NAMES: &[&str] = &[
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
        "name": rng.pick(CONTACT_NAMES),
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
    let content = super::chat_line(rng);
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
pub fn chatwoot() -> Vec<u8> {
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
pub fn sparse() -> Vec<u8> {
    let mut rng = Rng::new(23);
    let mut items = Vec::new();
    let mut len = 0;
    while len < 1 << 20 {
        let target = 2048 + rng.below(6144);
        let mut body = String::new();
        while body.len() < target {
            // Long text without PII: the openers only.
            let l = super::chat_line(&mut rng);
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
pub fn dense() -> Vec<u8> {
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

const PAGE_NAMES: &[&str] = &[
    "Maria Silva",
    "Jürgen Müller",
    "João Gonçalves",
    "Priya Iyer",
    "Dewi Lestari",
];

pub fn inbox_page(rng: &mut Rng, target: usize) -> String {
    let mut s = String::from("<!DOCTYPE html><html><head><title>Contatos</title><meta charset=\"utf-8\"></head><body><table>\n");
    let mut i = 0;
    while s.len() < target {
        let phone = format!("+55 11 9{}-{}", rng.digits(4), rng.digits(4));
        let email = format!("cliente{i}@example.com");
        s.push_str(&format!(
            "<tr data-id=\"{i}\"><td class=\"name\">{}</td><td><a href=\"tel:{}\">{}</a></td><td><a href=\"mailto:{email}\">{email}</a></td><td>Pedido PED-2025-{i:04} · R$ 1.234,56 · entregue em 20/11/2025</td></tr>\n",
            rng.pick(PAGE_NAMES),
            phone.replace(' ', ""),
            phone,
        ));
        i += 1;
    }
    s.push_str("</table></body></html>");
    s
}

pub fn generic_page(rng: &mut Rng, target: usize) -> String {
    let words = [
        "the", "inbox", "support", "order", "delivery", "customer", "team", "weekly", "report",
        "update",
    ];
    let mut s = String::from("<!DOCTYPE html><html><head><title>Blog</title></head><body><nav><a href=\"/\">Home</a></nav>\n");
    while s.len() < target {
        s.push_str("<article><h2>");
        for _ in 0..6 {
            s.push_str(rng.pick(&words));
            s.push(' ');
        }
        s.push_str("</h2><p class=\"lead\">");
        for _ in 0..120 {
            s.push_str(rng.pick(&words));
            s.push(' ');
        }
        s.push_str("</p></article>\n");
    }
    s.push_str("</body></html>");
    s
}

pub fn csv_export(rng: &mut Rng, target: usize) -> String {
    let mut s = String::from("id,name,email,phone_number,identifier,additional_attributes,custom_attributes,created_at\n");
    let mut i = 0;
    while s.len() < target {
        s.push_str(&format!(
            "{i},{},cliente{i}@example.com,+55119{},,\"{{\"\"city\"\" => \"\"São Paulo\"\"}}\",\"{{\"\"plano\"\" => \"\"ouro\"\"}}\",2024-10-16 12:00:00 UTC\n",
            rng.pick(PAGE_NAMES),
            rng.digits(8)
        ));
        i += 1;
    }
    s
}
