//! Fixtures shared by the operations, faults and soak tests: invented values only.
#![allow(dead_code)]

pub const PHONE_E164: &str = "+5521981234567";
pub const EMAIL: &str = "maria.teste@example.com";

/// What must never reach an agent, in every form the fixtures write it.
pub const PII: &[&str] = &[
    "98123-4567",
    "981234567",
    "+5521",
    "maria.teste",
    "529.982.247",
    "52998224725",
];

/// Non-PII that must survive masking.
pub const KEEP: &[&str] = &["PED-2025-0042", "2025-11-20T10:15:00Z", "Maria Teste"];

pub const CONTACTS_JSON: &str = r#"{"meta":{"count":1,"current_page":1},"payload":[{"id":301,"name":"Maria Teste","email":"maria.teste@example.com","phone_number":"+5521981234567","custom_attributes":{"cpf":"529.982.247-25","pedido":"PED-2025-0042"},"created_at":"2025-11-20T10:15:00Z","last_message":"Oi, meu pedido PED-2025-0042 atrasou; me liga no +55 21 98123-4567 ou escreve pra maria.teste@example.com","unread":2,"vip":true,"tags":null}]}"#;

pub const CONTACT_HTML: &str = r#"<!doctype html>
<html><head><title>Contato Maria Teste</title></head>
<body>
<h1>Pedido PED-2025-0042</h1>
<p class="contact-phone">+55 21 98123-4567</p>
<p class="contact-email">maria.teste@example.com</p>
<a href="tel:+5521981234567">Ligar</a>
<a href="mailto:maria.teste@example.com">Escrever</a>
<p>Atualizado em 2025-11-20T10:15:00Z</p>
</body></html>
"#;

pub const CONTACTS_CSV: &str = "id,name,email,phone_number,custom_attributes,pedido\r\n\
301,Maria Teste,maria.teste@example.com,+5521981234567,\"{\"\"cpf\"\": \"\"529.982.247-25\"\"}\",PED-2025-0042\r\n\
302,Joao Souza,,+55 21 98123-4567,,2025-11-20T10:15:00Z\r\n";

pub const SSE_EVENTS: &str = "event: message.created\nid: 1\ndata: {\"id\":9001,\"content\":\"Pedido PED-2025-0042: me liga no +55 21 98123-4567\",\"sender\":{\"name\":\"Maria Teste\",\"phone_number\":\"+5521981234567\",\"email\":\"maria.teste@example.com\"}}\n\nevent: message.created\nid: 2\ndata: {\"id\":9002,\"content\":\"meu CPF: 529.982.247-25\",\"created_at\":\"2025-11-20T10:15:00Z\"}\n\n";

/// An ActionCable frame carrying a message with PII.
pub fn cable_frame() -> String {
    serde_json::json!({
        "identifier": "{\"channel\":\"RoomChannel\"}",
        "message": {"event": "message.created", "data": {
            "id": 77, "content": "me liga no +55 21 98123-4567, pedido PED-2025-0042",
            "sender": {"name": "Maria Teste", "phone_number": PHONE_E164, "email": EMAIL}
        }}
    })
    .to_string()
}

pub fn json_ct() -> (&'static str, &'static str) {
    ("content-type", "application/json; charset=utf-8")
}

/// A `vt_phone_…` token in `text`.
pub fn phone_token(text: &str) -> String {
    let re = regex::Regex::new(r"vt_phone_[a-z0-9]+_[a-z2-7]{18,}").unwrap();
    re.find(text)
        .unwrap_or_else(|| panic!("no phone token in {text}"))
        .as_str()
        .to_owned()
}
