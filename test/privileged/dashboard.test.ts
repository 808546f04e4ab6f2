// The web dashboard in headless Chromium (Debian's chromium + playwright-core) against a running
// stack with live traffic: the map shows the real services and edges; switching a service to
// protect in the UI and making a forbidden connection shows a blocked edge and an alert without a
// reload; a log search returns lines; a viewer token can change nothing (the UI offers no write
// action and the API answers 403); the deploys view lists each service's release and deploy, and
// the environments view the environment; a viewer's rollback is refused by the UI (disabled) and the
// API (403). The stack is the fraud reference workload (examples/fraud, the test overlay's small
// seed), deployed through the delivery API (so every service runs from a release), with the traffic
// generator running throughout.
// RAMPART_SCREENSHOTS=<dir> also saves the main views as PNGs (docs/screenshots).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { fraudStackText } from '../../examples/fraud/generator/stack-file.ts';
import { runTraffic, trafficOrders } from '../../examples/fraud/generator/traffic.ts';
import { netnsName } from '../../src/platform/names.ts';
import { launchChromium } from '../../src/testing/browser.ts';
import {
  startControlPlaneForTest,
  testEnvironmentName,
  type TestControlPlane,
} from '../../src/testing/control-plane.ts';
import { freePort } from '../../src/testing/postgres.ts';
import { httpGetScript, inNetns } from '../../src/testing/probe.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The fraud stack's namespace. */
const NS = 'fraud';
const SHOTS = process.env.RAMPART_SCREENSHOTS;

// Only the gateway may reach credit: a declared policy, enforced once credit is in protect mode.
// velocity -> credit is then the forbidden connection.
const CREDIT_POLICY = (ns: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: credit-from-gateway, namespace: ${ns} }
spec:
  podSelector: { matchLabels: { app.kubernetes.io/name: credit } }
  policyTypes: [Ingress]
  ingress:
    - from: [{ podSelector: { matchLabels: { app.kubernetes.io/name: gateway } } }]
      ports: [{ protocol: TCP, port: 8080 }]
`;

describe('web dashboard in Chromium against a running stack', { timeout: 600_000 }, () => {
  let cp: TestControlPlane;
  let browser: Browser | undefined;
  const traffic = new AbortController();
  let trafficRun: Promise<unknown> | undefined;
  const env = testEnvironmentName('db');
  const id = (service: string) => `${NS}/${service}`;
  let url = '';
  let admin = '';
  let viewer = '';

  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  const signIn = async (token: string, hash = '#/map'): Promise<Page> => {
    const page = await browser!.newPage({ viewport: { width: 1440, height: 900 } });
    // Waits end as soon as the page shows what is awaited; the bound only matters on a loaded host.
    page.setDefaultTimeout(45_000);
    await page.goto(`${url}/${hash}`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('header.top .who').waitFor();
    // Whatever happens next must happen without a reload: this mark would be gone.
    await page.evaluate(() => ((globalThis as any).__sameDocument = true));
    return page;
  };

  /** Opens (or closes) the map's edge table (the accessible list of the canvas's edges; built only while open). */
  const openEdgeTable = (page: Page) => page.getByText('Edges as a table').click();

  const shot = async (page: Page, name: string) => {
    if (!SHOTS) return;
    mkdirSync(SHOTS, { recursive: true });
    await page.waitForTimeout(500);
    // Passing notices (e.g. a refused action's) would cover the view.
    await page.evaluate(() =>
      (globalThis as any).document.querySelectorAll('.notice').forEach((n: any) => n.remove()),
    );
    await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  };

  before(async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs'), '--if-stale'], { stdio: 'inherit' });
    cp = await startControlPlaneForTest({ readyTimeoutMs: 150_000 });
    url = cp.daemon.url;
    admin = cp.daemon.token;
    const hostPort = await freePort();
    const file = await cp.writeStack(fraudStackText({ environment: env, hostPort, overlayFrom: 'test' }));
    // A deploy (not `up`): releases are made and the deploy is audited, as the deploys view shows.
    await cp.daemon.delivery.deploy({ file, environment: env }, () => undefined, {
      name: 'root',
      via: 'dashboard test',
    });
    const created = await api('POST', '/v1/tokens', admin, { name: 'dash-viewer', role: 'viewer' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    viewer = created.body.token;
    const applied = await api('POST', '/v1/policies', admin, { environment: env, text: CREDIT_POLICY(NS) });
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    // Merchant traffic through the published gateway for the whole file (invoice orders reach credit).
    trafficRun = runTraffic({
      url: `http://127.0.0.1:${hostPort}`,
      rate: 10,
      durationMs: 300_000,
      orders: trafficOrders({ seed: 7, historyOrders: 20_000 }, 3_000),
      signal: traffic.signal,
    }).catch(() => undefined);
    browser = await launchChromium();
  });

  after(async () => {
    traffic.abort();
    await trafficRun;
    await browser?.close().catch(() => undefined);
    try {
      await cp?.daemon.controlPlane.down({ environment: env }, () => undefined);
    } finally {
      await cp?.stop({ removeState: true });
    }
  });

  it('GIVEN the stack with traffic WHEN the map opens THEN it shows the real services and their edges', async () => {
    const page = await signIn(admin);
    await openEdgeTable(page);
    // Learned flows (conntrack) and traces: the gateway calls velocity and credit.
    for (const to of ['velocity', 'credit'])
      await page
        .locator(`[data-edge="${id('gateway')}->${id(to)}"]`)
        .waitFor({ state: 'attached', timeout: 45_000 });
    const nodes = await page.evaluate(() =>
      ((globalThis as any).__rampartMap.graph().nodes as { id: string }[]).map((n) => n.id),
    );
    for (const s of ['gateway', 'velocity', 'credit'])
      assert.ok(nodes.includes(id(s)), `node ${id(s)} in ${nodes.join(', ')}`);
    // gateway -> credit is allowed by the declared policy.
    await page
      .locator(`[data-edge="${id('gateway')}->${id('credit')}"][data-state="policy"]`)
      .waitFor({ state: 'attached', timeout: 45_000 });
    if (SHOTS) await openEdgeTable(page); // closes it: the map gets the room
    await shot(page, 'map');
    await page.close();
  });

  it('GIVEN credit switched to protect in the UI WHEN velocity connects to it THEN a blocked edge and an alert appear without reload', async () => {
    const page = await signIn(admin, '#/firewall');
    await page.locator(`[data-mode-of="${id('credit')}"]`).waitFor({ timeout: 60_000 });
    await page.locator(`[data-mode-of="${id('credit')}"]`).selectOption('protect');
    await page.locator(`[data-apply-mode="${id('credit')}"]`).click();
    await page.getByRole('button', { name: 'Switch to protect' }).click();
    await page.getByText(`${id('credit')}: protect`).waitFor({ timeout: 60_000 });
    const modes = (await api('GET', `/v1/firewall?environment=${env}`, admin)).body.modes;
    assert.equal(modes.perService[id('credit')], 'protect');

    await page.getByRole('link', { name: 'Map' }).click();
    await openEdgeTable(page);
    await page.locator('[data-edge]').first().waitFor({ state: 'attached', timeout: 45_000 });
    const credit = cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.service === 'credit')!;
    const out = await inNetns(
      netnsName(env, NS, 'velocity', 0),
      httpGetScript(`http://${credit.addresses.app}:8080/whoami`),
    );
    assert.match(out, /^ERR /, 'the firewall let velocity reach credit');

    await page
      .locator(`[data-edge="${id('velocity')}->${id('credit')}"][data-state="blocked"]`)
      .waitFor({ state: 'attached', timeout: 45_000 });
    await page.getByRole('link', { name: 'Firewall' }).click();
    await page
      .locator('[data-decision="blocked"]')
      .filter({ hasText: `${id('velocity')} → ${id('credit')}` })
      .first()
      .waitFor({ timeout: 45_000 });
    assert.equal(await page.evaluate(() => (globalThis as any).__sameDocument), true, 'no reload happened');
    if (SHOTS)
      await page
        .locator('#fw-rules + table')
        .waitFor({ timeout: 20_000 })
        .catch(() => undefined);
    await shot(page, 'firewall');
    await page.getByRole('link', { name: 'Map' }).click();
    await openEdgeTable(page);
    const row = page.locator(`tr:has([data-edge="${id('velocity')}->${id('credit')}"])`);
    await row.waitFor({ timeout: 45_000 });
    await row.getByRole('button', { name: 'Details' }).click();
    await page.locator('[data-decided-by]').waitFor();
    if (SHOTS) await openEdgeTable(page);
    await shot(page, 'map-blocked-edge');
    await page.close();
  });

  it('GIVEN the Logs view WHEN a search runs THEN lines come back', async () => {
    const page = await signIn(admin, '#/logs');
    await page.getByLabel('Service').selectOption('gateway');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('.log-line').first().waitFor({ timeout: 45_000 });
    assert.ok((await page.locator('.log-line').count()) > 0);
    await shot(page, 'logs');
    await page.getByRole('link', { name: 'Compliance' }).click();
    await page.getByText('Data classes per service').waitFor({ timeout: 60_000 });
    await shot(page, 'compliance');
    await page.getByRole('link', { name: 'Traces' }).click();
    await page
      .locator('.waterfall, .trace-list table, .error')
      .first()
      .waitFor({ timeout: 10_000 })
      .catch(() => undefined);
    await shot(page, 'traces');
    // Findings of the running releases (none configured here: the view says where advisories come from).
    await page.getByRole('link', { name: 'Vulnerabilities' }).click();
    await page.getByText(/\d+ findings, \d+ open; \d+ advisories/).waitFor({ timeout: 30_000 });
    await shot(page, 'vulnerabilities');
    if (SHOTS) {
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.getByRole('link', { name: 'Deploys' }).click();
      await page.locator('[data-release-of]').first().waitFor({ timeout: 30_000 });
      await shot(page, 'deploys-dark');
      await page.getByRole('link', { name: 'Map' }).click();
      await page.waitForFunction(() => (globalThis as any).__rampartMap?.graph().edges.length > 0);
      await shot(page, 'map-dark');
    }
    await page.close();
  });

  /** What each fraud service runs, from the stored deployment (the truth the views must show). */
  const runningReleases = async (): Promise<Map<string, string>> => {
    const spec = (await cp.daemon.controlPlane.store.getDeployment(env))!.spec as {
      services: { namespace: string; name: string; release?: { id: string } }[];
    };
    return new Map(spec.services.map((s) => [`${s.namespace}/${s.name}`, s.release?.id ?? '']));
  };

  it('GIVEN the deployed stack WHEN the Deploys, Environments views and a node panel open THEN they show its releases, deploy and environment', async () => {
    const releases = await runningReleases();
    assert.ok(releases.size >= 9, `services: ${[...releases.keys()].join(', ')}`);
    const page = await signIn(admin, '#/deploys');
    for (const [service, release] of releases) {
      assert.match(release, /^[0-9a-f]{16}$/, `${service} runs from a release`);
      const cell = page.locator(`[data-release-of="${service}"]`);
      await cell.waitFor({ timeout: 30_000 });
      assert.equal(await cell.getAttribute('title'), release, `${service}'s release in the view`);
    }
    // The deploy that made them, by whom and with what outcome, in the history.
    const row = page.locator('tr', { has: page.locator(`[data-history-of="${id('gateway')}"]`) }).first();
    await row.waitFor();
    assert.equal(await row.locator('[data-outcome]').getAttribute('data-outcome'), 'succeeded');
    assert.match(await row.innerText(), /root \(dashboard test\)/);
    // An admin's rollback goes to the API, which finds no earlier release: the answer is shown.
    // By keyboard: Tab reaches the row's button, Enter opens the dialog (focus on Cancel), Tab, Enter.
    let reached = false;
    for (let i = 0; i < 60 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(
        (s) => (globalThis as any).document.activeElement?.getAttribute('data-rollback') === s,
        id('gateway'),
      );
    }
    assert.ok(reached, 'the rollback button is reachable with Tab');
    await page.keyboard.press('Enter');
    const confirm = page.getByRole('button', { name: `Roll back ${id('gateway')}` });
    await confirm.waitFor();
    await page.keyboard.press('Tab'); // from Cancel to the confirming button
    assert.equal(await confirm.evaluate((b) => b === (globalThis as any).document.activeElement), true);
    await page.keyboard.press('Enter');
    await page.locator('[data-progress]').getByText('has no earlier release').waitFor({ timeout: 30_000 });
    assert.equal((await runningReleases()).get(id('gateway')), releases.get(id('gateway')));
    await shot(page, 'deploys');

    await page.getByRole('link', { name: 'Environments' }).click();
    const envCell = page.locator(`[data-env="${env}"]`);
    await envCell.waitFor();
    const envRow = page.locator('tr', { has: envCell });
    await envRow.locator('[data-state="running"]').waitFor({ timeout: 30_000 });
    assert.match(
      await envRow.innerText(),
      new RegExp(`${releases.size} \\(${releases.size} from releases\\)`),
    );
    await shot(page, 'environments');

    // The map's node panel: the release the service runs, the deploy that put it there, its findings.
    await page.getByRole('link', { name: 'Map' }).click();
    await page.locator('#map-search').fill('gateway');
    await page.locator('.search-results button', { hasText: id('gateway') }).click();
    const facts = page.locator('[data-node-release]');
    await facts.waitFor({ timeout: 30_000 });
    assert.equal(await facts.getAttribute('data-node-release'), releases.get(id('gateway')));
    assert.match(await facts.innerText(), /by root \(dashboard test\)/);
    await page.locator('[data-node-findings]').waitFor();
    await shot(page, 'map-node');
    await page.close();
  });

  it('GIVEN a viewer token THEN the UI offers no change and the API refuses one with 403', async () => {
    const modeOfCredit = async () =>
      (await api('GET', `/v1/firewall?environment=${env}`, admin)).body.modes.perService[
        id('credit')
      ] as unknown;
    const modeBefore = await modeOfCredit();
    const page = await signIn(viewer, '#/firewall');
    await page.locator('[data-read-only]').waitFor();
    await page.locator(`[data-mode-of="${id('credit')}"]`).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('[data-write]:visible').count(), 0, 'no write button is shown');
    assert.equal(await page.locator(`[data-mode-of="${id('credit')}"]`).isDisabled(), true);
    // Even a hand-made call from the page is refused.
    const status = await page.evaluate(
      async ([environment, token, service]) =>
        (
          await fetch('/v1/firewall/mode', {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ environment, mode: 'learn', services: [service] }),
          })
        ).status,
      [env, viewer, id('credit')],
    );
    assert.equal(status, 403);
    const policy = await api('POST', '/v1/policies', viewer, { environment: env, text: CREDIT_POLICY(NS) });
    assert.equal(policy.status, 403);
    assert.equal(policy.body.error.code, 'RAMPART_E_FORBIDDEN');
    assert.equal(await modeOfCredit(), modeBefore, 'the refused change changed nothing');

    // Rollback and destroy: disabled with the reason in the UI, 403 from the API, nothing changed.
    const releases = await runningReleases();
    await page.getByRole('link', { name: 'Deploys' }).click();
    const rollback = page.locator(`[data-rollback="${id('gateway')}"]`);
    await rollback.waitFor({ timeout: 30_000 });
    assert.equal(await rollback.isDisabled(), true, 'rollback is disabled for a viewer');
    const why = await rollback.getAttribute('aria-describedby');
    assert.match(await page.locator(`#${why}`).innerText(), /viewer cannot roll back/);
    const refused = await api('POST', `/v1/environments/${env}/rollback`, viewer, { service: id('gateway') });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'RAMPART_E_FORBIDDEN');
    await page.getByRole('link', { name: 'Environments' }).click();
    const destroy = page.locator(`[data-destroy="${env}"]`);
    await destroy.waitFor();
    assert.equal(await destroy.isDisabled(), true, 'destroy is disabled for a viewer');
    assert.equal((await api('POST', `/v1/environments/${env}/destroy`, viewer, {})).status, 403);
    assert.deepEqual(await runningReleases(), releases, 'the refused rollback changed nothing');
    assert.ok(cp.daemon.controlPlane.environments().includes(env), 'the refused destroy changed nothing');
    await page.close();
  });
});
