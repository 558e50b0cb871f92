// Headless Chromium (Debian's chromium, driven by playwright-core) opens `veil demo` as an
// agent and as an admin. The agent's rendered page, including a message pushed live over the
// WebSocket, shows no phone number or e-mail of the demo data; the admin's shows them; a
// search by token from the agent's page finds the contact. Screenshots go to artifacts/.
//
// Run: VEIL_BIN=target/debug/veil node --test tests/browser/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const veilBin = process.env.VEIL_BIN ?? join(here, '../../target/debug/veil');

// The demo's contacts (src/demo/data.rs), in the forms the pages could show them.
const PII = [
  '+5521981234567', '5521981234567', '98123-4567', 'beatriz.lima@example.com',
  '+4915234567890', '4915234567890', '0152 34567890', 'klaus.becker@example.org',
  '+351913456789', '351913456789', '913 456 789', 'rui.almeida@example.net',
  '+919988766554', '919988766554', 'ananya.iyer@example.com',
  '+5511977771234', '5511977771234', '97777-1234', '529.982.247-25',
];

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

let demo, browser, agentUrl, adminUrl;

before(async () => {
  const [a, b, m] = [await freePort(), await freePort(), await freePort()];
  demo = spawn(veilBin, ['demo', '--agent-listen', `127.0.0.1:${a}`, '--admin-listen', `127.0.0.1:${b}`,
    '--metrics-listen', `127.0.0.1:${m}`, '--push-every', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('veil demo did not start: ' + out)), 20000);
    demo.stdout.on('data', (d) => {
      out += d;
      const agent = out.match(/agent view \(masked\):\s+(\S+)/);
      const admin = out.match(/admin view \(clear\):\s+(\S+)/);
      if (agent && admin && out.includes('Ctrl-C')) { agentUrl = agent[1]; adminUrl = admin[1]; clearTimeout(timer); resolve(); }
    });
    demo.on('exit', (c) => reject(new Error(`veil demo exited with ${c}`)));
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  demo?.kill();
});

async function open(url, name) {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector('#contacts tr.contact');
  await page.waitForSelector('.msg');
  await page.waitForSelector('#live .msg.live', { timeout: 15000 });
  const text = await page.evaluate(() => document.body.innerText);
  const html = await page.content();
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  return { page, text, html };
}

test('the agent view shows no phone number or e-mail, live messages included', async () => {
  const { page, text, html } = await open(agentUrl, 'agent');
  for (const v of PII) {
    assert.ok(!text.includes(v), `the agent sees ${v}`);
    assert.ok(!html.includes(v), `the agent's page holds ${v}`);
  }
  assert.match(text, /Beatriz Lima/);
  assert.match(text, /vt_phone_demo_/);
  await page.close();
});

test('the admin view shows the clear values', async () => {
  const { page, text } = await open(adminUrl, 'admin');
  assert.ok(text.includes('+5521981234567'), 'the admin sees the phone');
  assert.ok(text.includes('beatriz.lima@example.com'), 'the admin sees the e-mail');
  await page.close();
});

test('a search by token from the agent page finds the contact', async () => {
  const page = await browser.newPage();
  await page.goto(agentUrl);
  await page.waitForSelector('#contacts tr.contact');
  const token = (await page.locator('#contacts tr.contact td.phone').first().innerText()).trim();
  assert.match(token, /^vt_phone_demo_[a-z2-7]{18}$/);
  assert.ok(token.length <= 32, `a phone token fits the contact table: ${token}`);
  await page.fill('#q', token);
  await page.click('#search button');
  await page.waitForFunction((t) => {
    const rows = document.querySelectorAll('#contacts tr.contact');
    return rows.length === 1 && rows[0].innerText.includes(t);
  }, token, { timeout: 10000 });
  await page.screenshot({ path: join(artifacts, 'agent-search.png') });
  const text = await page.evaluate(() => document.body.innerText);
  for (const v of PII) assert.ok(!text.includes(v), `the search result shows ${v}`);

  // A reply with the token: the inbox stores the token, not the number. The admin's view
  // (clear) shows the reply as the inbox holds it, so as the contact would get it.
  await page.fill('#text', `Vou ligar no ${token} hoje`);
  await page.click('#reply button');
  await page.waitForFunction((t) => document.body.innerText.includes(`Vou ligar no ${t} hoje`), token, { timeout: 10000 });
  await page.screenshot({ path: join(artifacts, 'agent-reply.png') });
  await page.close();
  const admin = await browser.newPage();
  await admin.goto(adminUrl);
  await admin.waitForSelector('.msg.out');
  await admin.waitForFunction(() => document.body.innerText.includes('Vou ligar no'), null, { timeout: 10000 });
  const adminText = await admin.evaluate(() => document.body.innerText);
  assert.ok(adminText.includes(`Vou ligar no ${token} hoje`), 'the inbox stored the token');
  assert.ok(!adminText.includes('Vou ligar no +5521981234567'), 'the inbox never got the number');
  await admin.screenshot({ path: join(artifacts, 'admin-after-reply.png'), fullPage: true });
  await admin.close();
});
