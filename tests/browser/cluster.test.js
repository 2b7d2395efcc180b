// Two browser tabs on two wsloop nodes joined through a real redis-server (rooms across nodes,
// `--redis`): they chat as one room; when Redis dies, each tab is told, its own messages are
// shown once (delayed), and they reach the other node when Redis is back.
// Needs Debian's Chromium and redis-server (`make setup` installs both).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const WSLOOP_BIN = process.env.WSLOOP_BIN
  ? path.resolve(process.env.WSLOOP_BIN)
  : path.resolve(__dirname, '../../target/release/wsloop');
const TIMEOUT = 15000;

let browser = null;
let redis = null;          // { proc, port, dir }
const nodes = [];          // { proc, port }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

async function startRedis(port, dir) {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const deadline = Date.now() + 10000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (up) return proc;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startNode(redisPort, name) {
  return new Promise((resolve, reject) => {
    const proc = spawn(WSLOOP_BIN, ['--port', '0', '--redis', `redis://127.0.0.1:${redisPort}`, '--node', name],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`node ${name} did not start`)), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on [0-9.]+:(\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ proc, port: Number(m[1]) }); }
    });
    proc.stderr.on('data', () => {});
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`node ${name} exited (${code})`)); });
  });
}

async function tab(node, name, room) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${node.port}/`);
  await page.waitForFunction(() => document.querySelector('#state').dataset.state === 'OPEN');
  await page.selectOption('#route', 'chat');
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#connect');
  await page.waitForFunction(() => document.querySelector('#state').dataset.state === 'OPEN');
  await page.waitForSelector(`#members [data-member="${name}"]`);
  return { page, context, errors };
}

async function say(page, text) {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
}
const entries = (page, text) => page.locator('#log li', { has: page.locator('.text', { hasText: text }) });

before(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (make setup)`);
  try { execFileSync('redis-server', ['--version']); } catch (e) {
    throw new Error('redis-server not found (make setup installs it: apt-get install -y redis-server)');
  }
  const { chromium } = require('playwright-core');
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsloop-redis-'));
  redis = { proc: await startRedis(port, dir), port, dir };
  nodes.push(await startNode(port, 'tab-a'), await startNode(port, 'tab-b'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  for (const n of nodes) n.proc.kill('SIGKILL');
  if (redis) { redis.proc.kill('SIGKILL'); fs.rmSync(redis.dir, { recursive: true, force: true }); }
});

test('C1. two tabs on two nodes chat as one room; a Redis outage is shown and loses nothing', async () => {
  const a = await tab(nodes[0], 'ann', 'e2e-cluster');
  const b = await tab(nodes[1], 'ben', 'e2e-cluster');
  try {
    await a.page.waitForSelector('#members [data-member="ben"]');
    await b.page.waitForSelector('#members [data-member="ann"]');
    await say(a.page, 'across the nodes');
    await entries(b.page, 'across the nodes').first().waitFor();
    const own = a.page.locator('#log li[data-own="true"]', { hasText: 'across the nodes' });
    await own.locator('.tick.acked').waitFor();
    assert.equal(await own.count(), 1);

    // Redis dies: both tabs are told; a message still reaches its own node's tab at once, once.
    redis.proc.kill('SIGKILL');
    await entries(a.page, 'link to the other nodes lost').first().waitFor();
    await say(a.page, 'said during the outage');
    const delayed = a.page.locator('#log li[data-own="true"]', { hasText: 'said during the outage' });
    await delayed.locator('.tick.acked').waitFor();
    assert.equal(await delayed.count(), 1, 'a delayed own message is shown once');

    // Redis is back on the same port: the other node gets it, once.
    redis.proc = await startRedis(redis.port, redis.dir);
    await entries(b.page, 'said during the outage').first().waitFor({ timeout: 30000 });
    await entries(b.page, 'link to the other nodes is back').first().waitFor();
    await b.page.waitForTimeout(500);
    assert.equal(await entries(b.page, 'said during the outage').count(), 1);
    assert.equal(await entries(a.page, 'said during the outage').count(), 1);
    assert.deepEqual([...a.errors, ...b.errors], []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
