//! The demo inbox's own invented contacts and conversations, shaped like Chatwoot's API
//! (`payload`, `contact_inboxes[].source_id`, `meta.sender`, ActionCable frames). Every
//! value is made up; e-mail addresses use example domains.
use serde_json::{json, Value};

/// (id, name, phone E.164, wa_id, email, cpf)
pub const CONTACTS: &[(u32, &str, &str, &str, &str, &str)] = &[
    (
        201,
        "Beatriz Lima",
        "+5521981234567",
        "5521981234567",
        "beatriz.lima@example.com",
        "529.982.247-25",
    ),
    (
        202,
        "Klaus Becker",
        "+4915234567890",
        "4915234567890",
        "klaus.becker@example.org",
        "",
    ),
    (
        203,
        "Rui Almeida",
        "+351913456789",
        "351913456789",
        "rui.almeida@example.net",
        "",
    ),
    (
        204,
        "Ananya Iyer",
        "+919988766554",
        "919988766554",
        "ananya.iyer@example.com",
        "",
    ),
    (
        205,
        "+55 11 97777-1234",
        "+5511977771234",
        "5511977771234",
        "",
        "",
    ),
];

fn contact(c: &(u32, &str, &str, &str, &str, &str)) -> Value {
    let (id, name, phone, wa_id, email, cpf) = *c;
    json!({
        "additional_attributes": {"city": "", "country": ""},
        "availability_status": "offline",
        "email": if email.is_empty() { Value::Null } else { json!(email) },
        "id": id,
        "name": name,
        "phone_number": phone,
        "identifier": if email.is_empty() { json!(format!("{wa_id}@s.whatsapp.net")) } else { Value::Null },
        "custom_attributes": if cpf.is_empty() { json!({}) } else { json!({"cpf": cpf, "pedido": "PED-2025-0042"}) },
        "contact_inboxes": [{"source_id": wa_id, "inbox": {"id": 1, "name": "WhatsApp Loja", "channel_type": "Channel::Whatsapp"}}],
    })
}

/// `GET /api/v1/accounts/1/contacts`, optionally filtered by a search query (as Chatwoot
/// searches name, e-mail, phone and identifier).
pub fn contacts(query: Option<&str>) -> Value {
    let q = query.map(|q| q.to_lowercase());
    let payload: Vec<Value> = CONTACTS
        .iter()
        .filter(|c| {
            q.as_deref().is_none_or(|q| {
                let digits: String = q.chars().filter(|ch| ch.is_ascii_digit()).collect();
                c.1.to_lowercase().contains(q)
                    || c.4.contains(q)
                    || (!digits.is_empty() && c.2.contains(&digits))
            })
        })
        .map(contact)
        .collect();
    json!({"meta": {"count": payload.len(), "current_page": 1}, "payload": payload})
}

pub fn message(
    id: u32,
    contact: &(u32, &str, &str, &str, &str, &str),
    content: &str,
    incoming: bool,
) -> Value {
    json!({
        "id": id,
        "content": content,
        "message_type": if incoming { 0 } else { 1 },
        "created_at": 1763640000 + id,
        "source_id": format!("wamid.HBgN{}FQIAEhgUM0VCMEM0RjJBMUQ5RThCN0M2QTUA", id),
        "sender": if incoming {
            json!({"id": contact.0, "name": contact.1, "phone_number": contact.2, "type": "contact"})
        } else {
            json!({"id": 7, "name": "Agent Demo", "type": "user"})
        },
    })
}

/// `GET /api/v1/accounts/1/conversations`, with the agents' `replies` to the first one.
pub fn conversations(replies: &[String]) -> Value {
    let b = &CONTACTS[0];
    let k = &CONTACTS[1];
    let r = &CONTACTS[2];
    let mut first = vec![
        message(
            1,
            b,
            "Oi! Meu CPF é 529.982.247-25, podem confirmar o pedido PED-2025-0042?",
            true,
        ),
        message(2, b, "Claro! Qual o melhor telefone para contato?", false),
        message(
            3,
            b,
            "Pode ligar no (21) 98123-4567 ou mandar email pra beatriz.lima@example.com",
            true,
        ),
    ];
    first.extend(
        replies
            .iter()
            .enumerate()
            .map(|(i, text)| message(100 + i as u32, b, text, false)),
    );
    json!({"data": {"meta": {"all_count": 3}, "payload": [
        {"id": 1, "meta": {"sender": contact(b)}, "messages": first},
        {"id": 2, "meta": {"sender": contact(k)}, "messages": [
            message(4, k, "Guten Tag, bitte rufen Sie mich unter 0152 34567890 an. Rechnung 2025-11-0042.", true),
        ]},
        {"id": 3, "meta": {"sender": contact(r)}, "messages": [
            message(5, r, "Olá, o meu número novo é +351 913 456 789.", true),
        ]},
    ]}})
}

/// An ActionCable `message.created` frame, as the demo pushes them over `/cable`.
pub fn cable_frame(n: u32) -> String {
    let c = &CONTACTS[(n as usize) % CONTACTS.len()];
    let texts = [
        "Acabei de fazer o pix, meu telefone é {phone}",
        "Can you call me back on {phone}? Order 58213.",
        "Mein neuer Kontakt: {email}",
        "Obrigada! Qualquer coisa, {phone}",
    ];
    let t = texts[(n as usize) % texts.len()]
        .replace("{phone}", c.2)
        .replace("{email}", if c.4.is_empty() { "sem email" } else { c.4 });
    json!({
        "identifier": "{\"channel\":\"RoomChannel\",\"pubsub_token\":\"demo-pubsub-token\"}",
        "message": {"event": "message.created", "data": message(100 + n, c, &t, true)},
    })
    .to_string()
}
