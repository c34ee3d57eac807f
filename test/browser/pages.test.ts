/**
 * Issue "Web pages" end to end in headless Chromium: admin adds users in bulk, a user picks a
 * profile on the spawn page, watches the progress bar reach 100 % and lands in the real
 * jupyterhub-singleuser; the admin stops it from the console; the token page mints a token that
 * works against the API; bad form input gives inline errors and creates nothing.
 * Screenshots of the main pages are saved to docs/screenshots/ (shown in the README).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { isPidAlive, runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';

const SHOTS = resolve(import.meta.dirname, '..', '..', 'docs', 'screenshots');
const ADMIN_PASSWORD = 'admin-test-password';

const CONFIG = `
allowNamedServers: true
spawner:
  kind: local
  cmd: [jupyterhub-singleuser]
profiles:
  - slug: python
    displayName: Python — JupyterLab
    description: Python 3 with NumPy, pandas and Matplotlib.
    default: true
    limits: { cpu: 2, memory: 4G }
    options:
      size:
        displayName: Resources
        choices:
          small: { displayName: "Small (2 CPUs, 4 GB)", default: true }
          large: { displayName: "Large (8 CPUs, 32 GB)", limits: { cpu: 8, memory: 32G } }
  - slug: gpu
    displayName: GPU workstation
    description: CUDA-ready environment on the lab's GPU node.
    limits: { cpu: 8, memory: 64G, gpu: 1 }
    options:
      image:
        displayName: Image tag
        choices:
          stable: { displayName: "stable" }
        unlistedChoice:
          enabled: true
          displayName: Other tag
          validationRegex: "[a-z0-9.-]{1,32}"
          validationMessage: "Tags use lowercase letters, digits, dots and dashes"
`;

describe('web pages in headless Chromium', () => {
  let hub: HubProcess;
  let browser: Browser;
  let adminToken: string;
  const passwords: Record<string, string> = {};

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-browser-'));
    writeFileSync(join(dir, 'labhub.yaml'), CONFIG);
    hub = await startHubProcess({ args: ['--config', join(dir, 'labhub.yaml')], dataDir: join(dir, 'data'), adminPassword: ADMIN_PASSWORD });
    adminToken = (await runLabhub(['token', 'admin', '--data-dir', hub.dataDir])).stdout.trim();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (hub && adminToken) for (const u of ['alice', 'bob']) await fetch(`${hub.publicUrl}/hub/api/users/${u}/server`, { method: 'DELETE', headers: { Authorization: `token ${adminToken}` } }).catch(() => undefined);
    await hub?.stop();
  });

  async function login(page: Page, user: string, password: string): Promise<void> {
    await page.goto(`${hub.publicUrl}/hub/login`);
    await page.fill('#username', user);
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(/\/hub\/home/), page.click('#login_submit')]);
  }

  const api = (path: string, init: RequestInit = {}) => fetch(`${hub.publicUrl}/hub/api${path}`, { ...init, headers: { Authorization: `token ${adminToken}`, ...(init.headers ?? {}) } });

  it('admin adds two users in bulk; bad bulk input gives inline errors and creates nothing', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${hub.publicUrl}/hub/login`);
    await page.screenshot({ path: join(SHOTS, 'login.png') });
    await login(page, 'admin', ADMIN_PASSWORD);
    await page.goto(`${hub.publicUrl}/hub/admin`);
    for (const [text, message] of [
      ['', 'at least one username'],
      ['carol\ncarol', 'listed twice'],
      ['dave\n../etc', 'invalid username'],
      ['admin', 'Already exist: admin'],
    ] as const) {
      await page.fill('#usernames', text);
      await page.click('#add-users-submit');
      await expect.poll(() => page.textContent('#admin-error')).toContain(message);
    }
    const afterBad = (await (await api('/users')).json()) as Array<{ name: string }>;
    expect(afterBad.map((u) => u.name).sort()).toEqual(['admin']);
    await page.fill('#usernames', 'alice\nBob');
    await page.click('#add-users-submit');
    await page.waitForSelector('#created-users');
    for (const name of ['alice', 'bob']) {
      passwords[name] = (await page.textContent(`[data-password-for="${name}"]`))!.trim();
      expect(passwords[name].length).toBeGreaterThan(8);
    }
    await page.goto(`${hub.publicUrl}/hub/admin`);
    await page.screenshot({ path: join(SHOTS, 'admin.png'), fullPage: true });
    await page.close();
  });

  it('a user picks a profile, watches progress reach 100 % and lands in the real jupyterhub-singleuser', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // record the progress bar across the redirect into the server (same origin: sessionStorage survives)
    await context.addInitScript(() => {
      const watch = () => {
        const bar = document.getElementById('progress');
        if (!bar) return;
        const record = () => {
          const v = Number(bar.getAttribute('aria-valuenow'));
          const max = Number(sessionStorage.getItem('maxProgress') ?? '0');
          if (v > max) sessionStorage.setItem('maxProgress', String(v));
          const msgs = JSON.parse(sessionStorage.getItem('progressMessages') ?? '[]') as string[];
          const m = document.getElementById('progress-message')?.textContent ?? '';
          if (m && msgs.at(-1) !== m) sessionStorage.setItem('progressMessages', JSON.stringify([...msgs, m]));
        };
        record();
        new MutationObserver(record).observe(bar, { attributes: true });
        new MutationObserver(record).observe(document.getElementById('progress-message')!, { childList: true, characterData: true, subtree: true });
      };
      document.addEventListener('DOMContentLoaded', watch);
    });
    const page = await context.newPage();
    await login(page, 'alice', passwords.alice);
    await page.goto(`${hub.publicUrl}/hub/spawn`);
    expect(await page.locator('.profile-card').count()).toBe(2);
    expect(await page.textContent('.profile-card[data-profile="gpu"] .profile-limits')).toContain('1 GPU');
    await page.screenshot({ path: join(SHOTS, 'spawn.png'), fullPage: true });
    // out-of-range option: the form is tampered with in the page, the server refuses it inline
    await page.evaluate(() => {
      const sel = document.getElementById('profile-option-python--size') as HTMLSelectElement;
      sel.add(new Option('Huge', 'huge'));
      sel.value = 'huge';
    });
    await page.click('#start');
    await expect.poll(() => page.textContent('#spawn-error')).toContain("'huge' is not a choice of 'Resources'");
    // unknown profile
    await page.evaluate(() => {
      const r = document.querySelector('input[name=profile][value=python]') as HTMLInputElement;
      r.value = 'mainframe';
      r.checked = true;
    });
    await page.click('#start');
    await expect.poll(() => page.textContent('#spawn-error')).toContain("Unknown profile 'mainframe'");
    // invalid free text for the GPU profile's "other" tag
    await page.goto(`${hub.publicUrl}/hub/spawn`);
    await page.click('.profile-card[data-profile="gpu"] .profile-head');
    await page.selectOption('#profile-option-gpu--image', '__unlisted__');
    await page.fill('#profile-option-gpu--image--unlisted-choice', 'NOT A TAG!');
    await page.click('#start');
    await expect.poll(() => page.textContent('#spawn-error')).toContain('Tags use lowercase letters');
    const model = (await (await api('/users/alice')).json()) as { servers: Record<string, unknown> };
    expect(model.servers).toEqual({});
    // now a valid choice: Python, large
    await page.goto(`${hub.publicUrl}/hub/spawn`);
    await page.click('.profile-card[data-profile="python"] .profile-head');
    await page.selectOption('#profile-option-python--size', 'large');
    await Promise.all([page.waitForURL(/\/hub\/spawn-pending\/alice/), page.click('#start')]);
    await page.screenshot({ path: join(SHOTS, 'spawn-pending.png') }).catch(() => undefined);
    await page.waitForURL(/\/user\/alice\/tree/, { timeout: 60_000 });
    expect(await page.title()).toMatch(/Home|Jupyter|Notebook/i);
    expect(Number(await page.evaluate(() => sessionStorage.getItem('maxProgress')))).toBe(100);
    const messages = JSON.parse((await page.evaluate(() => sessionStorage.getItem('progressMessages'))) ?? '[]') as string[];
    expect(messages.some((m) => m.startsWith('Server ready at /user/alice/'))).toBe(true);
    const alice = (await (await api('/users/alice')).json()) as { servers: Record<string, { ready: boolean; user_options: Record<string, string> }> };
    expect(alice.servers[''].ready).toBe(true);
    expect(alice.servers[''].user_options).toEqual({ profile: 'python', size: 'large' });
    // the last choice is remembered on the next visit
    await page.goto(`${hub.publicUrl}/hub/home`);
    expect(await page.textContent('tr[data-server=""]')).toContain('python');
    await context.close();
  });

  it('the admin stops that server from the console', async () => {
    const before = (await (await api('/users/alice')).json()) as { servers: Record<string, { state: { pid: number } }> };
    const pid = before.servers[''].state.pid;
    const page = await browser.newPage();
    await login(page, 'admin', ADMIN_PASSWORD);
    await page.goto(`${hub.publicUrl}/hub/admin?q=alice`);
    expect(await page.textContent('tr[data-user="alice"] .profile-used')).toBe('python');
    await page.click('tr[data-user="alice"] button.stop-server');
    await page.waitForSelector('#admin-flash');
    for (let i = 0; i < 50 && isPidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(isPidAlive(pid)).toBe(false);
    const after = (await (await api('/users/alice')).json()) as { servers: Record<string, unknown> };
    expect(after.servers).toEqual({});
    await page.close();
  });

  it("an admin starting someone else's server gets the same profile form (JupyterHub/DockerSpawner gap)", async () => {
    const page = await browser.newPage();
    await login(page, 'admin', ADMIN_PASSWORD);
    await page.goto(`${hub.publicUrl}/hub/admin?q=bob`);
    await Promise.all([page.waitForURL(/\/hub\/spawn\/bob$/), page.click('tr[data-user="bob"] a:has-text("Spawn page")')]);
    expect(await page.textContent('h1')).toContain("bob's server");
    expect(await page.locator('.profile-card').count()).toBe(2);
    await page.click('.profile-card[data-profile="gpu"] .profile-head');
    await Promise.all([page.waitForURL(/\/hub\/spawn-pending\/bob/), page.click('#start')]);
    const bob = (await (await api('/users/bob')).json()) as { servers: Record<string, { user_options: Record<string, string> }> };
    expect(bob.servers[''].user_options).toEqual({ profile: 'gpu', image: 'stable' });
    await api('/users/bob/server', { method: 'DELETE' });
    await page.close();
  });

  it('the token page creates a token that works against the API; revoking it ends it', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await login(page, 'bob', passwords.bob);
    await page.goto(`${hub.publicUrl}/hub/token`);
    await page.fill('#note', 'laptop script');
    await page.selectOption('#expires_in', '86400');
    await page.click('#create-token');
    const token = (await page.textContent('#new-token'))!.trim();
    await page.screenshot({ path: join(SHOTS, 'token.png'), fullPage: true });
    const me = await fetch(`${hub.publicUrl}/hub/api/user`, { headers: { Authorization: `token ${token}` } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { name: string }).name).toBe('bob');
    await page.goto(`${hub.publicUrl}/hub/token`);
    expect(await page.textContent('#token-table')).toContain('laptop script');
    await page.click('#token-table button');
    await page.waitForURL(/\/hub\/token$/);
    expect((await fetch(`${hub.publicUrl}/hub/api/user`, { headers: { Authorization: `token ${token}` } })).status).toBe(403);
    // an invalid scope is an inline error
    await page.fill('#scopes', 'admin:users');
    await page.click('#create-token');
    await expect.poll(() => page.textContent('#token-error')).toContain('admin:users');
    await page.close();
  });

  it('pages work on a phone-sized screen', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await context.newPage();
    await login(page, 'bob', passwords.bob);
    await page.goto(`${hub.publicUrl}/hub/home`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, 'home-phone.png') });
    await context.close();
  });
});
