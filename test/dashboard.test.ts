import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpRequest } from '@azure/functions';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultRequest } from '../src/local/emulators/key-vault';
import { secretNameFor } from '../src/local/environment';
import { DASHBOARD } from '../src/functions/dashboard';
import { startHarness, type Harness } from './support/harness';
import { expectNoSecrets } from './support/secrets';

/** The little of the DOM the page checks use; they run in Chromium (no DOM lib in this Node project's types). */
interface PageElement {
  textContent: string | null;
  parentElement: PageElement | null;
}
declare function getComputedStyle(element: PageElement): { color: string; backgroundColor: string; borderLeftColor: string };

/** Where the suite leaves what a person may want to look at (gitignored). */
const OUTPUT = join(__dirname, '..', 'test-output');
const CREDENTIALS = ['healthy-db', 'broken-db', 'partial-db', 'idle-db'];

/** Debian's chromium, headless, with nothing that reaches beyond this machine. */
async function launch(userDataDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1600, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

describe('the dashboard', () => {
  let h: Harness;
  let origin: string;
  let userDataDir: string;
  let browser: BrowserContext | undefined;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    h = await startHarness([
      { id: 'healthy-db', role: 'healthy_app', github: [{ repo: 'acme/healthy', secret: 'DB_PASSWORD' }], containerApps: [{ app: 'healthy-api' }] },
      { id: 'broken-db', role: 'broken_app' },
      { id: 'partial-db', role: 'partial_app', containerApps: [{ app: 'partial-api', revisions: [{ name: 'partial-api--r1', outcome: 'Unhealthy' }] }] },
      { id: 'idle-db', role: 'idle_app' },
    ]);
    const host = h.newHost();
    await h.rotate(host, 'healthy-db');
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: `${secretNameFor('broken-db')}-pending` }), status: 403, times: 1 });
    expect((await h.rotate(host, 'broken-db')).custom.outcome).toBe('failed');
    expect((await h.rotate(host, 'partial-db')).custom.outcome).toBe('degraded');
    origin = await host.listen();
    userDataDir = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
    browser = await launch(userDataDir);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    const response = await page.goto(`${origin}/api/dashboard`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await h?.stop();
  });

  it('when Chromium loads it, then there is no console error and every configured credential has a row', async () => {
    expect(consoleErrors).toEqual([]);
    const rows = await page.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-credential')));
    expect(rows).toEqual(CREDENTIALS);
    for (const id of CREDENTIALS) await expect(page.getByRole('rowheader', { name: new RegExp(`^${id}`) }).count()).resolves.toBe(1);
  });

  it('when a rotation failed or is degraded, then its row is marked in words and colour, and the others are not', async () => {
    const state = (id: string) => page.locator(`tr[data-credential="${id}"]`);
    expect(await state('broken-db').getAttribute('data-attention')).toBe('failed');
    expect(await state('broken-db').locator('.badge').textContent()).toBe('Failed');
    expect(await state('broken-db').locator('.error').textContent()).toMatch(/^key-vault-forbidden: stage: writing secret broken-db-password-pending failed: Key Vault 403/);
    expect(await state('broken-db').locator('th').evaluate((th: PageElement) => getComputedStyle(th).borderLeftColor)).toBe('rgb(176, 0, 32)');
    expect(await state('partial-db').locator('.badge').textContent()).toBe('Degraded');
    expect(await state('partial-db').locator('td').nth(7).textContent()).toContain('container-app');
    expect(await state('healthy-db').locator('.badge').textContent()).toBe('OK');
    expect(await state('healthy-db').getAttribute('class')).toBeNull();
    expect(await state('idle-db').locator('td').nth(5).textContent()).toBe('never rotated by this service');
  });

  it('when a rotation ran, then its row shows the stage timeline with durations, each consumer and the lifecycle events', async () => {
    const row = page.locator('tr[data-credential="healthy-db"]');
    const stages = await row.locator('ol.timeline li .name').allTextContents();
    expect(stages).toEqual(['begin', 'stage', 'apply', 'verify', 'promote', 'propagate', 'confirm', 'grace', 'retire']);
    expect(await row.locator('ol.timeline li').first().textContent()).toMatch(/begin succeeded \d+(\.\d)? (ms|s)/);
    expect(await row.locator('td').nth(7).locator('li').count()).toBe(2);
    expect(await row.locator('td').nth(8).locator('li').allTextContents()).toEqual([expect.stringMatching(/^started /), expect.stringMatching(/^succeeded /), expect.stringMatching(/^retired /)]);
  });

  it('when it is read by assistive technology, then it is a captioned table with column and row headers, and every badge and text meets 4.5:1 contrast', async () => {
    expect(await page.locator('table caption').count()).toBe(1);
    expect(await page.locator('thead th[scope="col"]').count()).toBe(10);
    expect(await page.locator('tbody th[scope="row"]').count()).toBe(CREDENTIALS.length);
    const ratios = await page.locator('.badge, .sub, .muted, .error, .outcome, td, th, caption').evaluateAll((elements: PageElement[]) => {
      const luminance = (css: string) => {
        const [r, g, b] = css.match(/\d+(\.\d+)?/g)!.slice(0, 3).map((v) => Number(v) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const background = (element: PageElement): string => {
        for (let e: PageElement | null = element; e; e = e.parentElement) {
          const bg = getComputedStyle(e).backgroundColor;
          if (bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') return bg;
        }
        return 'rgb(255, 255, 255)';
      };
      return elements.map((element) => {
        const [a, b] = [luminance(getComputedStyle(element).color), luminance(background(element))];
        return { text: (element.textContent ?? '').slice(0, 30), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
      });
    });
    expect(ratios.length).toBeGreaterThan(40);
    expect(ratios.filter((r) => r.ratio < 4.5)).toEqual([]);
  });

  it('when the page is read, then no secret value is in it, and a screenshot is written to the test output', async () => {
    const values = h.env.vault.secretNames().flatMap((name) => h.env.vault.versions(name).map((v) => v.value));
    expectNoSecrets({ dashboard: await page.content() }, [...values, ...h.env.initialPasswords.values()]);
    mkdirSync(OUTPUT, { recursive: true });
    const file = join(OUTPUT, 'dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(10_000);
  });

  it('when the API requires an app role, then the dashboard refuses a caller without it and serves one with it', async () => {
    const saved = h.deps.current;
    h.deps.current = { ...saved, requiredAppRole: 'Rotation.Operator' };
    try {
      const host = h.hosts()[0];
      const principal = (roles: string[]) => Buffer.from(JSON.stringify({ claims: roles.map((val) => ({ typ: 'roles', val })) })).toString('base64');
      const get = (headers: Record<string, string>) => host.invokeHttp(DASHBOARD, new HttpRequest({ method: 'GET', url: 'http://localhost/api/dashboard', headers }));
      expect((await get({})).status).toBe(401);
      expect((await get({ 'x-ms-client-principal': principal(['Reader']) })).status).toBe(403);
      const allowed = await get({ 'x-ms-client-principal': principal(['Rotation.Operator']) });
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toContain('data-credential="broken-db"');
    } finally {
      h.deps.current = saved;
    }
  });
});
