/**
 * Web terminal (issue "Web terminal and shared ports") in headless Chromium: open the terminal from
 * the home page, type `echo hi`, see `hi`; resize and see the shell follow; close it and the shell
 * process is gone. Security: no terminal across users without the `terminal` scope, no
 * cross-origin WebSocket, no anonymous access.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { Browser as HttpBrowser } from '../helpers/browser.js';
import { isPidAlive, runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { FAKE_SINGLEUSER } from '../helpers/test-hub.js';

const ADMIN_PASSWORD = 'admin-test-password';

describe('web terminal', () => {
  let hub: HubProcess;
  let browser: Browser;
  let admin: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-term-'));
    writeFileSync(join(dir, 'labhub.yaml'), `spawner:\n  kind: local\n  cmd: [${process.execPath}, ${FAKE_SINGLEUSER}]\n`);
    hub = await startHubProcess({ args: ['--config', join(dir, 'labhub.yaml')], dataDir: join(dir, 'data'), adminPassword: ADMIN_PASSWORD });
    admin = (await runLabhub(['token', 'admin', '--data-dir', hub.dataDir])).stdout.trim();
    const api = (path: string, init: RequestInit = {}) => fetch(`${hub.publicUrl}/hub/api${path}`, { ...init, headers: { Authorization: `token ${admin}`, 'Content-Type': 'application/json' } });
    await api('/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob'] }) });
    for (const u of ['alice', 'bob']) await api(`/users/${u}/password`, { method: 'POST', body: JSON.stringify({ password: `${u}-password-123` }) });
    expect((await api('/users/alice/server', { method: 'POST' })).status).toBe(201);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (hub && admin) await fetch(`${hub.publicUrl}/hub/api/users/alice/server`, { method: 'DELETE', headers: { Authorization: `token ${admin}` } }).catch(() => undefined);
    await hub?.stop();
  });

  async function login(page: Page, user: string, password: string) {
    await page.goto(`${hub.publicUrl}/hub/login`);
    await page.fill('#username', user);
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(/\/hub\/home/), page.click('#login_submit')]);
  }
  const screen = (page: Page) =>
    page.evaluate(() => {
      const t = (window as unknown as { labhubTerminal: { buffer: { active: { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined } } } }).labhubTerminal;
      const out: string[] = [];
      for (let i = 0; i < t.buffer.active.length; i++) out.push(t.buffer.active.getLine(i)?.translateToString(true) ?? '');
      return out;
    });

  it('opens from the home page, runs echo hi, follows a resize, and closes', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    await login(page, 'alice', 'alice-password-123');
    await Promise.all([page.waitForURL(/\/hub\/terminal\/alice$/), page.click('a.terminal')]);
    await expect.poll(() => page.textContent('#terminal-status')).toBe('connected');
    await page.click('#terminal');
    await page.keyboard.type('echo hi\n');
    await expect.poll(async () => (await screen(page)).some((l) => l.trim() === 'hi'), { timeout: 10_000 }).toBe(true);
    // resize: the pty follows the page
    const before = await page.evaluate(() => (window as unknown as { labhubTerminal: { cols: number } }).labhubTerminal.cols);
    await page.setViewportSize({ width: 700, height: 600 });
    await expect.poll(() => page.evaluate(() => (window as unknown as { labhubTerminal: { cols: number } }).labhubTerminal.cols)).toBeLessThan(before);
    const cols = await page.evaluate(() => (window as unknown as { labhubTerminal: { cols: number } }).labhubTerminal.cols);
    await page.keyboard.type('stty size; echo pid=$$\n');
    await expect.poll(async () => (await screen(page)).some((l) => new RegExp(`^\\d+ ${cols}$`).test(l.trim())), { timeout: 10_000 }).toBe(true);
    const pidLine = (await screen(page)).find((l) => /^pid=\d+/.test(l.trim()))!;
    const shellPid = Number(pidLine.trim().slice(4));
    expect(isPidAlive(shellPid)).toBe(true);
    await page.screenshot({ path: join(import.meta.dirname, '..', '..', 'docs', 'screenshots', 'terminal.png') });
    await page.click('#terminal-close');
    await expect.poll(() => page.textContent('#terminal-status')).toBe('closed');
    await expect.poll(() => isPidAlive(shellPid), { timeout: 5000 }).toBe(false);
    await page.close();
  });

  it('hostile frames (JSON that is not an object, wrong types, binary, absurd sizes) are ignored, an oversized frame closes only its connection: the hub and the terminal keep working', async () => {
    const b = new HttpBrowser(hub.publicUrl);
    await b.login('alice', 'alice-password-123');
    const cookie = await b.jar.getCookieString(`${hub.publicUrl}/hub/terminal/alice/ws`);
    const ws = new WebSocket(`${hub.publicUrl.replace('http', 'ws')}/hub/terminal/alice/ws`, { headers: { Cookie: cookie, Origin: hub.publicUrl } });
    let output = '';
    ws.on('message', (m) => {
      const msg = JSON.parse(m.toString()) as { type: string; data?: string };
      if (msg.type === 'output') output += msg.data ?? '';
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    for (const frame of ['null', '[]', '"x"', '12', 'true', '{', '\u0000', '{"type":null}', '{"type":"input","data":{"a":1}}', '{"type":"input","data":null}', '{"type":"resize","cols":1e400,"rows":-5}', '{"type":"resize","cols":"NaN","rows":{}}', '{"type":"resize"}', '{"type":"__proto__"}', '{"__proto__":{"type":"close"}}']) ws.send(frame);
    ws.send(Buffer.from([0xff, 0xfe, 0x00, 0x80]));
    // the hub is still up, and the same terminal still runs commands
    expect((await fetch(`${hub.publicUrl}/hub/api`)).status).toBe(200);
    ws.send(JSON.stringify({ type: 'input', data: 'echo still-$((40+2))\n' }));
    await expect.poll(() => output.includes('still-42'), { timeout: 10_000 }).toBe(true);
    // a frame over the 1 MB limit closes that connection (1009), nothing else
    const big = new WebSocket(`${hub.publicUrl.replace('http', 'ws')}/hub/terminal/alice/ws`, { headers: { Cookie: cookie, Origin: hub.publicUrl } });
    await new Promise((resolve, reject) => big.once('open', resolve).once('error', reject));
    const closed = new Promise<number>((resolve) => big.once('close', (code) => resolve(code)));
    big.send(JSON.stringify({ type: 'input', data: 'x'.repeat(2_000_000) }));
    expect(await closed).toBe(1009);
    expect((await fetch(`${hub.publicUrl}/hub/api`)).status).toBe(200);
    ws.close();
  });

  it('clients that reset the connection in the middle of the terminal handshake do not take the hub down', async () => {
    const b = new HttpBrowser(hub.publicUrl);
    await b.login('alice', 'alice-password-123');
    const cookie = await b.jar.getCookieString(`${hub.publicUrl}/hub/terminal/alice/ws`);
    const { port } = new URL(hub.hubUrl);
    for (let i = 0; i < 60; i++) {
      await new Promise<void>((resolve) => {
        const sock = net.connect(Number(port), '127.0.0.1', () => {
          sock.write(`GET /hub/terminal/${i % 3 ? 'alice' : 'nobody'}/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: ${hub.publicUrl}\r\nCookie: ${cookie}\r\n\r\n`);
          // reset at once, a little later, or after the answer started: each lands in another phase of the handshake
          setTimeout(() => { sock.resetAndDestroy(); resolve(); }, i % 4);
        });
        sock.on('error', () => resolve());
      });
    }
    await sleep(500);
    expect((await fetch(`${hub.publicUrl}/hub/api`)).status).toBe(200);
  });

  it('refuses other users, anonymous callers and cross-origin pages; the admin may (terminal scope)', async () => {
    const wsStatus = (cookie: string | undefined, origin?: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${hub.publicUrl.replace('http', 'ws')}/hub/terminal/alice/ws`, { headers: { ...(cookie ? { Cookie: cookie } : {}), ...(origin ? { Origin: origin } : {}) } });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => resolve(-1));
      });
    const cookieFor = async (user: string, password: string) => {
      const b = new HttpBrowser(hub.publicUrl);
      await b.login(user, password);
      return (await b.jar.getCookieString(`${hub.publicUrl}/hub/terminal/alice/ws`));
    };
    expect(await wsStatus(undefined)).toBe(403);
    const bob = await cookieFor('bob', 'bob-password-123');
    expect(await wsStatus(bob)).toBe(403);
    const bobPage = await new HttpBrowser(hub.publicUrl);
    await bobPage.login('bob', 'bob-password-123');
    expect((await bobPage.get('/hub/terminal/alice')).status).toBe(404);
    const alice = await cookieFor('alice', 'alice-password-123');
    expect(await wsStatus(alice, 'http://evil.example')).toBe(403);
    expect(await wsStatus(alice, hub.publicUrl)).toBe(101);
    const adminCookie = await cookieFor('admin', ADMIN_PASSWORD);
    expect(await wsStatus(adminCookie, hub.publicUrl)).toBe(101);
    // a server that isn't running has no terminal: bob's own is stopped
    const bobOwn = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${hub.publicUrl.replace('http', 'ws')}/hub/terminal/bob/ws`, { headers: { Cookie: bob, Origin: hub.publicUrl } });
      ws.on('open', () => resolve(101));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    });
    expect(bobOwn).toBe(409);
  });
});
