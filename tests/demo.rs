//! `veil demo` from the README: the real binary starts the demo inbox and both views; the
//! agent's view shows no phone number or e-mail of the demo data, the admin's shows them.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Demo {
    child: Child,
    agent: String,
    admin: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Demo {
    let (a, b, m) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args([
            "demo",
            "--agent-listen",
            &format!("127.0.0.1:{a}"),
            "--admin-listen",
            &format!("127.0.0.1:{b}"),
        ])
        .args([
            "--metrics-listen",
            &format!("127.0.0.1:{m}"),
            "--push-every",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut agent, mut admin) = (String::new(), String::new());
    for line in lines.by_ref().take(20) {
        let line = line.unwrap();
        if let Some(url) = line.split("agent view (masked):").nth(1) {
            agent = url
                .trim()
                .trim_start_matches("http://")
                .trim_end_matches("/app/")
                .to_owned();
        }
        if let Some(url) = line.split("admin view (clear):").nth(1) {
            admin = url
                .trim()
                .trim_start_matches("http://")
                .trim_end_matches("/app/")
                .to_owned();
        }
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    assert!(
        !agent.is_empty() && !admin.is_empty(),
        "the demo printed no URLs"
    );
    Demo {
        child,
        agent,
        admin,
    }
}

/// A plain HTTP/1.1 GET (no client library: this is what a browser sends).
fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn demo_pii() -> Vec<String> {
    let mut v = Vec::new();
    for (_, _, phone, wa_id, email, cpf) in veil::demo::data::CONTACTS {
        v.push(phone.to_string());
        v.push(wa_id.to_string());
        if !email.is_empty() {
            v.push(email.to_string());
        }
        if !cpf.is_empty() {
            v.push(cpf.to_string());
        }
    }
    v.extend(["98123-4567", "0152 34567890", "+351 913 456 789"].map(String::from));
    v
}

#[test]
fn demo_serves_a_masked_agent_view_and_a_clear_admin_view() {
    let demo = start();
    for path in [
        "/app/",
        "/api/v1/accounts/1/contacts",
        "/api/v1/accounts/1/conversations",
    ] {
        let agent = get(&demo.agent, path);
        assert!(agent.starts_with("HTTP/1.1 200"), "{path}: {agent}");
        for v in demo_pii() {
            assert!(!agent.contains(&v), "{path}: the agent view shows {v}");
        }
        assert!(agent.contains("Beatriz Lima") || path == "/api/v1/accounts/1/conversations");
        let admin = get(&demo.admin, path);
        assert!(admin.starts_with("HTTP/1.1 200"), "{path}: {admin}");
    }
    let agent = get(&demo.agent, "/api/v1/accounts/1/contacts");
    assert!(agent.contains("vt_phone_demo_"), "{agent}");
    let admin = get(&demo.admin, "/api/v1/accounts/1/contacts");
    assert!(
        admin.contains("+5521981234567") && admin.contains("beatriz.lima@example.com"),
        "{admin}"
    );
    // A search by token, from the agent's view, finds the contact.
    let token = agent
        .split("\"phone_number\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    // Short enough for the inbox's contact table.
    assert!(token.len() <= 32, "{token}: {} characters", token.len());
    let found = get(
        &demo.agent,
        &format!("/api/v1/accounts/1/contacts/search?q={token}"),
    );
    assert!(found.contains("\"count\":1"), "{found}");
    assert!(
        found.contains(token),
        "the result shows the same token: {found}"
    );
}
