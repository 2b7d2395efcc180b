// Real-browser end-to-end tests for the wsloop web page.
// Run: node --test tests/browser/   (or: npm test --prefix tests/browser, or tests/browser/run.sh)
// Needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium) and the wsloop binary
// (env WSLOOP_BIN, default ../../target/release/wsloop relative to this file).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const INSTALL_CMD = 'apt-get install -y chromium';
const WSLOOP_BIN = process.env.WSLOOP_BIN
  ? path.resolve(process.env.WSLOOP_BIN)
  : path.resolve(__dirname, '../../target/release/wsloop');
const WEB_DIR = path.resolve(__dirname, '../../web');
const SCREENSHOT = path.join(WEB_DIR, 'screenshot.png');
const TIMEOUT = 10000;

let browser = null;
let server = null;         // { proc, port, host, stderr() }
let uploadsDir = null;
const pageLogs = [];       // { label, errors: [], dialogs: [] }
let outage = null;         // { start, end, port } — window in which the server was deliberately down

// ---------- server ----------
function startServer(port) {
  return new Promise((resolve, reject) => {
    const proc = spawn(WSLOOP_BIN, ['--port', String(port), '--uploads', uploadsDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
    });
    let out = '', errText = '', done = false;
    const timer = setTimeout(() => finish(new Error('wsloop did not print "listening on" within 10 s; stderr: ' + errText)), 10000);
    function finish(err, val) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) { proc.kill('SIGKILL'); reject(err); } else resolve(val);
    }
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on ([0-9.]+):(\d+)/.exec(out);
      if (m) finish(null, { proc, port: Number(m[2]), host: m[1], stderr: () => errText });
    });
    proc.stderr.on('data', (d) => { errText += d; if (errText.length > 20000) errText = errText.slice(-10000); });
    proc.on('error', (e) => finish(e));
    proc.on('exit', (code, sig) => finish(new Error(`wsloop exited early (code ${code}, signal ${sig}); stderr: ${errText}`)));
  });
}
function stopServer(srv, signal) {
  return new Promise((resolve) => {
    if (!srv || srv.proc.exitCode !== null || srv.proc.signalCode !== null) return resolve();
    srv.proc.once('exit', () => resolve());
    srv.proc.kill(signal || 'SIGTERM');
  });
}
const httpBase = () => `http://127.0.0.1:${server.port}/`;
const wsBase = () => `ws://127.0.0.1:${server.port}`;

// ---------- browser ----------
async function newPage(label, viewport) {
  const context = await browser.newContext({ viewport: viewport || { width: 1280, height: 800 } });
  const page = await context.newPage();
  const rec = { label, errors: [], dialogs: [] };
  pageLogs.push(rec);
  page.on('console', (msg) => {
    if (msg.type() === 'error') rec.errors.push({ time: Date.now(), text: msg.text() });
  });
  page.on('pageerror', (err) => rec.errors.push({ time: Date.now(), text: 'pageerror: ' + err.message }));
  page.on('dialog', (d) => { rec.dialogs.push(d.type() + ': ' + d.message()); d.dismiss().catch(() => {}); });
  page.setDefaultTimeout(TIMEOUT);
  return { page, context, rec };
}

async function waitState(page, state, timeout) {
  await page.waitForFunction((s) => document.querySelector('#state').dataset.state === s, state,
    { timeout: timeout || TIMEOUT });
}

async function joinChat(page, name, room) {
  await page.goto(httpBase());
  assert.equal(await page.inputValue('#url'), `ws://127.0.0.1:${server.port}/chat`,
    'URL field must be derived from location when served over HTTP');
  // The page connects on load by itself; Connect then reconnects with the
  // name and room filled in.
  await waitState(page, 'OPEN');
  await page.selectOption('#route', 'chat');
  await page.fill('#name', name);
  await page.fill('#room', room || '');
  await page.click('#connect');
  await waitState(page, 'OPEN');
  await waitMember(page, name);
}

// Waits for `name` in the page's member list; on a time-out the error
// carries what the page showed and what the server logged, since a flaky
// presence bug is only ever seen once in a while.
async function waitMember(page, name) {
  try {
    await page.waitForSelector(`#members [data-member="${name}"]`);
  } catch (e) {
    const members = await page.$eval('#members', (n) => n.textContent).catch(() => '?');
    const log = await logText(page).catch(() => '?');
    e.message += `\n  members: ${members}\n  page log: ${log}\n  server stderr (tail): ${server ? server.stderr().slice(-4000) : ''}`;
    throw e;
  }
}

async function say(page, text) {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
}

// log entries whose text part equals `text`
function entries(page, text) {
  return page.locator('#log li', { has: page.locator('.text', { hasText: text }) });
}
async function logText(page) {
  return page.$eval('#log', (n) => n.textContent);
}

// ---------- setup ----------
before(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}. Install it with: ${INSTALL_CMD}`);
  }
  if (!fs.existsSync(WSLOOP_BIN)) {
    throw new Error(`wsloop binary not found at ${WSLOOP_BIN}. Build it with: cargo build --release (or set WSLOOP_BIN)`);
  }
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    throw new Error('playwright-core is not installed; run: npm ci --prefix tests/browser');
  }
  uploadsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsloop-uploads-'));
  server = await startServer(0);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stopServer(server, 'SIGKILL');
  if (uploadsDir) fs.rmSync(uploadsDir, { recursive: true, force: true });
});

// ---------- scenarios ----------
test('0. a bare page load connects at once; a newcomer types, presses Enter, and it is sent', async () => {
  const n = await newPage('newcomer');
  try {
    await n.page.goto(httpBase());
    // No clicks, no name typed: the page connects and picks a name.
    await waitState(n.page, 'OPEN');
    const name = await n.page.inputValue('#name');
    assert.match(name, /^guest-\d{4}$/);
    await waitMember(n.page, name);
    await n.page.keyboard.type('hello from a newcomer');
    await n.page.keyboard.press('Enter');
    await n.page.locator('#log li', { hasText: 'hello from a newcomer' }).first().waitFor();
    // The name is kept for the next visit.
    await n.page.reload();
    await waitState(n.page, 'OPEN');
    assert.equal(await n.page.inputValue('#name'), name);
  } finally {
    await n.context.close();
  }
});

test('0b. typed while still connecting, a message goes out once the connection is ready', async () => {
  const n = await newPage('early-typist');
  try {
    await n.page.goto(httpBase());
    await n.page.fill('#message', 'typed early');
    await n.page.press('#message', 'Enter');
    await waitState(n.page, 'OPEN');
    await n.page.locator('#log li', { hasText: 'typed early' }).first().waitFor();
  } finally {
    await n.context.close();
  }
});

test('0c. a field typed in while the connection opens keeps the caret; Enter there connects and moves it on', async () => {
  const n = await newPage('caret');
  try {
    await n.page.goto(httpBase());
    await waitState(n.page, 'OPEN');
    // Reconnect, then start typing a room before the new connection is open
    // (one script, so the open event cannot come in between).
    await n.page.evaluate(() => {
      document.querySelector('#connect').click();
      const room = document.querySelector('#room');
      room.focus();
      room.value = 'caret';
      room.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await waitState(n.page, 'OPEN');
    await n.page.keyboard.type('-room');
    assert.equal(await n.page.evaluate(() => document.activeElement.id), 'room',
      'the open connection took the caret out of the field being typed in');
    assert.equal(await n.page.inputValue('#room'), 'caret-room');
    assert.equal(await n.page.inputValue('#message'), '');
    // Enter in the field is "connect with this": the caret then goes to the message box.
    await n.page.press('#room', 'Enter');
    await waitState(n.page, 'OPEN');
    await n.page.waitForFunction(() => document.activeElement.id === 'message');
    // Entered but not yet typed in: the caret stays too.
    await n.page.evaluate(() => {
      document.querySelector('#connect').click();
      document.querySelector('#name').focus();
    });
    await waitState(n.page, 'OPEN');
    assert.equal(await n.page.evaluate(() => document.activeElement.id), 'name');
    await waitMember(n.page, await n.page.inputValue('#name'));
    assert.match(await logText(n.page), /in room caret-room/);
  } finally {
    await n.context.close();
  }
});

test('1. two pages chat: members, messages, XSS shown as text, tick on ack', async () => {
  const a = await newPage('chat-alice');
  const b = await newPage('chat-bob');
  try {
    await joinChat(a.page, 'alice', 'e2e-one');
    await joinChat(b.page, 'bob', 'e2e-one');
    await waitMember(a.page, 'bob');
    await waitMember(b.page, 'alice');

    await say(a.page, 'hello from alice');
    for (const p of [a.page, b.page]) await entries(p, 'hello from alice').first().waitFor();
    // own message marked and ticked; delivered count in the title
    const own = a.page.locator('#log li[data-own="true"]', { hasText: 'hello from alice' });
    await own.locator('.tick.acked').waitFor();
    // wsloop counts the other recipients (sender excluded); bob is there, so at least 1
    assert.match(await own.locator('.tick').getAttribute('title'), /^delivered to [1-9]\d*$/);
    assert.equal(await b.page.locator('#log li[data-own="true"]', { hasText: 'hello from alice' }).count(), 0,
      'message must not be marked as own on the receiving page');

    const evil = '<img src=x onerror=alert(1)>';
    await say(b.page, evil);
    for (const p of [a.page, b.page]) {
      await entries(p, evil).first().waitFor();
      assert.equal(await p.locator('img').count(), 0, 'no <img> element may be created from message text');
    }
    await b.page.locator('#log li[data-own="true"]', { hasText: evil }).locator('.tick.acked').waitFor();
    // an empty message is not sent
    const before = await a.page.locator('#log li').count();
    await say(a.page, '   ');
    await a.page.waitForTimeout(300);
    assert.equal(await a.page.locator('#log li').count(), before, 'empty message must not be sent');
    assert.equal(await a.page.inputValue('#message'), '   ');
    await a.page.fill('#message', '');
    await a.page.waitForTimeout(300); // give a would-be alert() time to fire
    assert.deepEqual(a.rec.dialogs, []);
    assert.deepEqual(b.rec.dialogs, []);

    if (process.env.UPDATE_SCREENSHOT === '1' || !fs.existsSync(SCREENSHOT)) {
      await say(a.page, 'Welcome to wsloop, bob!');
      await entries(b.page, 'Welcome to wsloop, bob!').first().waitFor();
      await a.page.locator('#log li[data-own="true"] .tick.acked').last().waitFor();
      await a.page.screenshot({ path: SCREENSHOT });
    }
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('2. whisper reaches only its addressee; another room sees nothing', async () => {
  const a = await newPage('whisper-alice');
  const b = await newPage('whisper-bob');
  const c = await newPage('whisper-carol');
  const d = await newPage('whisper-dave-other-room');
  try {
    await joinChat(a.page, 'alice2', 'e2e-two');
    await joinChat(b.page, 'bob2', 'e2e-two');
    await joinChat(c.page, 'carol2', 'e2e-two');
    await joinChat(d.page, 'dave2', 'e2e-elsewhere');
    await waitMember(a.page, 'carol2');
    await waitMember(a.page, 'bob2');
    assert.equal(await d.page.locator('#members [data-member="alice2"]').count(), 0);

    await a.page.click('#members [data-member="bob2"]');
    assert.equal(await a.page.isVisible('#whisper-bar'), true);
    await say(a.page, 'psst secret for bob');
    const got = b.page.locator('#log li[data-private="true"]', { hasText: 'psst secret for bob' });
    await got.waitFor();
    assert.equal(await got.locator('.from').textContent(), 'alice2');
    await a.page.locator('#log li[data-own="true"][data-private="true"]', { hasText: 'psst secret for bob' })
      .locator('.tick.acked').waitFor();

    // barrier: a public message sent afterwards reaches carol, so the whisper would have by now
    await a.page.click('#whisper-cancel');
    await say(a.page, 'public after whisper');
    await entries(c.page, 'public after whisper').first().waitFor();
    await entries(b.page, 'public after whisper').first().waitFor();
    await say(d.page, 'dave barrier');
    await entries(d.page, 'dave barrier').first().waitFor();
    for (const p of [c.page, d.page]) {
      assert.doesNotMatch(await logText(p), /psst secret/, 'whisper leaked to a non-addressee');
    }
    assert.doesNotMatch(await logText(d.page), /public after whisper/, 'message leaked into another room');
  } finally {
    for (const x of [a, b, c, d]) await x.context.close();
  }
});

test('3. upload: file arrives byte-exact and the receipt is shown', async () => {
  const u = await newPage('upload');
  try {
    await u.page.goto(httpBase());
    await u.page.selectOption('#route', 'upload');
    assert.equal(await u.page.inputValue('#url'), `${wsBase()}/upload`);
    await u.page.click('#connect');
    await waitState(u.page, 'OPEN');
    // a PNG signature followed by every byte value and some random bytes (> 64 KiB: 64-bit length)
    const rnd = require('node:crypto').randomBytes(70000);
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)), rnd]);
    await u.page.setInputFiles('#file', { name: 'pic.png', mimeType: 'image/png', buffer: bytes });
    await u.page.click('#upload-send');
    await u.page.waitForSelector('#receipt[data-saved]');
    const saved = await u.page.getAttribute('#receipt', 'data-saved');
    assert.equal(await u.page.getAttribute('#receipt', 'data-bytes'), String(bytes.length));
    assert.match(await u.page.textContent('#receipt'), /Saved as .+ \([\d,]+ bytes\)/);
    assert.ok(saved.startsWith(uploadsDir + '/'), `saved path ${saved} should be inside ${uploadsDir}`);
    const files = fs.readdirSync(uploadsDir);
    assert.equal(files.length, 1, 'exactly one file saved: ' + files.join(', '));
    assert.equal(path.join(uploadsDir, files[0]), saved);
    assert.match(files[0], /\.png$/);
    assert.ok(fs.readFileSync(saved).equals(bytes), 'uploaded file is not byte-exact');
  } finally {
    await u.context.close();
  }
});

test('4. inspect: a text frame from the browser is shown masked', async () => {
  const i = await newPage('inspect');
  try {
    await i.page.goto(httpBase());
    await i.page.selectOption('#route', 'inspect');
    await i.page.click('#connect');
    await waitState(i.page, 'OPEN');
    await i.page.waitForFunction(() => /Sec-WebSocket-Accept:\s+\S+/.test(document.querySelector('#handshake').textContent));
    assert.match(await i.page.textContent('#handshake'), /GET \/inspect HTTP\/1\.1/);
    await say(i.page, 'hello inspect');
    const row = i.page.locator('#frames tbody tr[data-opcode="1"][data-masked="true"]').first();
    await row.waitFor();
    assert.equal(await row.locator('[data-col="opcode"]').textContent(), '1 text');
    assert.equal(await row.locator('[data-col="masked"]').textContent(), 'true');
    assert.match(await row.locator('[data-col="mask"]').textContent(), /^[0-9a-f]{8}$/);
    assert.equal(await row.locator('[data-col="lenenc"]').textContent(), '7-bit');
    if (await row.locator('[data-col="rsv"]').textContent() === '100') {
      // Chromium compressed it (permessage-deflate, RFC 7692): the frame
      // carries deflate data, shown as hex with no text.
      assert.equal(await row.locator('[data-col="text"]').textContent(), '—');
    } else {
      assert.equal(await row.locator('[data-col="text"]').textContent(), 'hello inspect');
      assert.equal(await row.locator('[data-col="len"]').textContent(), '13');
    }
    // the echoed (non-JSON) text appears in the log
    await i.page.locator('#log li.in', { hasText: 'hello inspect' }).waitFor();
  } finally {
    await i.context.close();
  }
});

test('5. server killed -> CLOSED 1006; restarted on the same port -> page reconnects', async () => {
  const r = await newPage('reconnect');
  try {
    await joinChat(r.page, 'rita', 'e2e-five');
    const port = server.port;
    outage = { start: Date.now(), end: Infinity, port };
    await stopServer(server, 'SIGKILL');
    await waitState(r.page, 'CLOSED');
    await r.page.waitForSelector('#close-info:not([hidden])');
    assert.equal(await r.page.textContent('#close-code'), '1006');
    assert.match(await r.page.textContent('#close-info'), /Abnormal Closure/);
    await r.page.waitForFunction(() => /reconnecting in/.test(document.querySelector('#status-detail').textContent));
    server = await startServer(port);
    assert.equal(server.port, port);
    await waitState(r.page, 'OPEN', 20000);
    outage.end = Date.now();
    await waitMember(r.page, 'rita');
    // a user-initiated Disconnect does not reconnect
    await r.page.click('#disconnect');
    await waitState(r.page, 'CLOSED');
    assert.equal(await r.page.textContent('#close-code'), '1000');
    await r.page.waitForTimeout(1500);
    assert.equal(await r.page.getAttribute('#state', 'data-state'), 'CLOSED');
    assert.doesNotMatch(await r.page.textContent('#status-detail'), /reconnecting/);
  } finally {
    await r.context.close();
  }
});

test('6. page opened from file:// connects by URL field and echoes', async () => {
  const f = await newPage('file-url', { width: 375, height: 740 });
  try {
    await f.page.goto(pathToFileURL(path.join(WEB_DIR, 'index.html')).href);
    assert.equal(await f.page.inputValue('#url'), 'ws://localhost:8080/chat');
    // It tried to connect there at once (nothing listens on 8080 here).
    await f.page.waitForFunction(() => document.querySelector('#state').dataset.state !== 'CONNECTING' ||
      /connecting to ws:\/\/localhost:8080\/chat/.test(document.querySelector('#status-detail').textContent));
    await f.page.fill('#url', `${wsBase()}/echo`);
    await f.page.click('#connect');
    await waitState(f.page, 'OPEN');
    assert.equal(await f.page.inputValue('#route'), 'echo');
    await say(f.page, 'echo from file:// ✓');
    await f.page.locator('#log li.in', { hasText: 'echo from file:// ✓' }).waitFor();
    await f.page.locator('#log li.out', { hasText: 'echo from file:// ✓' }).waitFor();
    // phone width: nothing wider than the viewport
    const overflow = await f.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than a 375px viewport`);
  } finally {
    await f.context.close();
  }
});

test('6b. Chromium negotiates permessage-deflate; a 10 KiB message round-trips; the page says compressed', async () => {
  const z = await newPage('deflate');
  try {
    await z.page.goto(httpBase());
    await waitState(z.page, 'OPEN');
    await z.page.fill('#url', `${wsBase()}/echo`);
    await z.page.click('#connect');
    await waitState(z.page, 'OPEN');
    await z.page.waitForFunction(() => /compressed/.test(document.querySelector('#status-detail').textContent));
    await z.page.locator('#log li', { hasText: 'compressed: permessage-deflate' }).first().waitFor();
    const big = 'deflate me, '.repeat(854).slice(0, 10240);
    await say(z.page, big);
    await z.page.locator('#log li.in', { hasText: big }).waitFor();
  } finally {
    await z.context.close();
  }
});

test('7. no console errors or page errors on any page', () => {
  assert.ok(pageLogs.length >= 9, 'all scenario pages were recorded');
  const problems = [];
  for (const rec of pageLogs) {
    for (const e of rec.errors) {
      // While the server is deliberately down (scenario 5), Chromium itself logs each refused
      // reconnect attempt ("WebSocket connection to 'ws://…' failed"); page script cannot suppress that.
      const expected = rec.label === 'reconnect' && outage && e.time >= outage.start && e.time <= outage.end &&
        e.text.startsWith(`WebSocket connection to 'ws://127.0.0.1:${outage.port}/`) && / failed/.test(e.text);
      // Opened from disk, the page first tries ws://localhost:8080/chat, where no server runs
      // in this test; the user then points it at the test server (scenario 6).
      const fromDisk = rec.label === 'file-url' && e.text.startsWith("WebSocket connection to 'ws://localhost:8080/chat' failed");
      if (!expected && !fromDisk) problems.push(`${rec.label}: ${e.text}`);
    }
    for (const d of rec.dialogs) problems.push(`${rec.label}: unexpected dialog ${d}`);
  }
  assert.deepEqual(problems, []);
});
