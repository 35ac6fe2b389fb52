/**
 * The dashboard page (core/admin/dashboard-page.ts), end to end: a real balancer group of
 * two processes behind a real admin server, the page in headless Chromium. What an operator
 * does in the page must reach every process; what changes in the balancer must show in the
 * page; the token lives only in sessionStorage and a refused one is asked for again.
 */
import type { Socket } from 'node:net';
import type { Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startControlled } from '../helpers/admin.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { addr, closeServer, connect, freePort, roundTrip, startEchoServer, withTimeout } from '../helpers/net.ts';

const KEY = 'protobalance.adminToken'; // the page's sessionStorage key
const WAIT = 10_000;

function configText(port: number, a: string, b: string): string {
  return `export default {
  listeners: [{ name: 'front', port: ${port}, host: '127.0.0.1', cluster: 'a' }],
  clusters: {
    a: { nodes: [{ id: 'n0', address: '${a}' }, { id: 'n1', address: '${a}' }] },
    b: { nodes: [{ id: 'n0', address: '${b}' }] },
  },
  workers: 2, watch: false, stateDir: './state', log: { level: 'silent' },
};\n`;
}

async function rig() {
  const echoA = await startEchoServer();
  const echoB = await startEchoServer();
  const port = await freePort();
  const c = await startControlled(configText(port, addr(echoA), addr(echoB)));
  const stop = async () => {
    await c.stop();
    await closeServer(echoA);
    await closeServer(echoB);
  };
  return { ...c, port, stop, addressB: addr(echoB) };
}
type Rig = Awaited<ReturnType<typeof rig>>;

/** Runs `fn` with the page open at /dashboard; browser and balancer go in any case. */
async function withDashboard(fn: (r: Rig, page: Page) => Promise<void>): Promise<void> {
  const r = await rig();
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT);
    // A script error or a CSP refusal (an external resource, an inline handler) is a bug.
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
    });
    await page.goto(`${r.origin}/dashboard`);
    await fn(r, page);
    assert.equal(problems, []);
  } finally {
    await browser?.close();
    await r.stop();
  }
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.waitForSelector('#login', { state: 'visible' });
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
}

async function signedIn(page: Page, r: Rig): Promise<void> {
  await signIn(page, r.token);
  for (const key of ['a/n0', 'a/n1', 'b/n0']) await page.waitForSelector(`[data-node="${key}"]`);
}

/**
 * Polls `check` until true; fails naming `what` after `ms`. (Not page.waitForFunction: it
 * evaluates its predicate with eval inside the page, which the page's CSP rightly refuses.)
 */
async function until(what: string, check: () => Promise<boolean>, ms = WAIT): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function statesOf(r: Rig, key: string): Promise<string[]> {
  return (await r.group.statusByProcess()).map((list) => list.find((n) => n.key === key)!.state);
}

async function factorsOf(r: Rig, key: string): Promise<number[]> {
  return (await r.group.statusByProcess()).map((list) => list.find((n) => n.key === key)!.loadFactor);
}

/** The number of status rounds the page has drawn so far (samples of a node's chart, up to 60). */
const rounds = async (page: Page, key: string) =>
  Number(await page.getAttribute(`[data-node="${key}"] svg[data-chart="active"]`, 'data-samples'));

const stored = (page: Page) =>
  page.evaluate(`({ session: sessionStorage.getItem('${KEY}'), local: localStorage.length, cookie: document.cookie })`);

test('asks for the token, keeps it only in sessionStorage, shows every listener and node; sign out forgets it', () =>
  withDashboard(async (r, page) => {
    assert.ok(await page.isHidden('#board'), 'nothing shown before the token');
    await signedIn(page, r);
    for (const key of ['a/n0', 'a/n1', 'b/n0']) {
      assert.is(await page.getAttribute(`[data-node="${key}"]`, 'data-state'), 'green', key);
      assert.match((await page.textContent(`[data-node="${key}"]`))!, 'available');
      assert.is(await page.locator(`[data-node="${key}"] [data-set-state]`).count(), 3);
    }
    const listener = page.locator('[data-listener="front"]');
    assert.is(await listener.getAttribute('data-cluster'), 'a');
    assert.match((await listener.textContent())!, `127.0.0.1:${r.port}`);
    const options = await listener.locator('select[data-route] option').allTextContents();
    assert.equal(options, ['a', 'b']);
    assert.equal(await stored(page), { session: r.token, local: 0, cookie: '' });

    await page.click('#sign-out');
    await page.waitForSelector('#login', { state: 'visible' });
    assert.equal(await stored(page), { session: null, local: 0, cookie: '' });
    assert.is(await page.locator('[data-node]').count(), 0, 'nothing left on the page');
  }));

test('a wrong token is refused with a message and asked again; so is a stored one that stops working', () =>
  withDashboard(async (r, page) => {
    await signIn(page, 'wrong');
    await until('the refusal shown', async () => /refused/.test((await page.textContent('#login-message'))!));
    assert.ok(await page.isVisible('#login'));
    assert.ok(await page.isHidden('#board'));
    assert.equal(await stored(page), { session: null, local: 0, cookie: '' });

    await signedIn(page, r);
    await page.evaluate(`sessionStorage.setItem('${KEY}', 'stale')`); // as if the token were rotated
    await page.waitForSelector('#login', { state: 'visible' });
    assert.match((await page.textContent('#login-message'))!, /refused .*401.*again/);
    assert.equal(await stored(page), { session: null, local: 0, cookie: '' }, 'the refused token is dropped');
    assert.is(await page.locator('[data-node]').count(), 0);
  }));

test('a state set in the page reaches every process', () =>
  withDashboard(async (r, page) => {
    await signedIn(page, r);
    await page.click('[data-node="a/n1"] [data-set-state="yellow"]');
    await until('a/n1 yellow in every process', async () => (await statesOf(r, 'a/n1')).every((s) => s === 'yellow'));
    assert.ok((await statesOf(r, 'a/n1')).length >= 2, 'more than one process');
    await page.waitForSelector('[data-node="a/n1"][data-state="yellow"]');
    assert.match((await page.textContent('#message-text'))!, 'a/n1 is now yellow');
    assert.equal(await statesOf(r, 'a/n0'), (await statesOf(r, 'a/n0')).map(() => 'green'), 'no other node changed');
  }));

test('changes made elsewhere show on the page within seconds', () =>
  withDashboard(async (r, page) => {
    await signedIn(page, r);
    await r.group.setNodeState('a/n0', 'red');
    await page.waitForSelector('[data-node="a/n0"][data-state="red"]', { timeout: 5_000 });
    const res = await r.call('PUT', '/nodes/b/n0/state', { state: 'yellow' });
    assert.is(res.status, 200);
    await page.waitForSelector('[data-node="b/n0"][data-state="yellow"]', { timeout: 5_000 });
    assert.is(await page.getAttribute('[data-node="a/n1"]', 'data-state'), 'green');
  }));

test('the charts draw active connections and the connection rate of each node', () =>
  withDashboard(async (r, page) => {
    await signedIn(page, r);
    assert.is(await page.locator('[data-node] svg[data-chart="active"]').count(), 3);
    assert.is(await page.locator('[data-node] svg[data-chart="rate"]').count(), 3);
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const s = await connect(r.port);
        held.push(s);
        s.write('hold');
        await withTimeout(new Promise((resolve) => s.once('data', resolve)), 5_000, 'the echo through the balancer');
      }
      for (let i = 0; i < 6; i++) assert.is(await roundTrip(r.port, `m${i}`), `m${i}`);
      // Two connections open on cluster a: its active charts end at 2 in all; and some rate was drawn.
      const sum = (chart: string, attr: string) =>
        `[...document.querySelectorAll('[data-node^="a/"] svg[data-chart="${chart}"]')].reduce((t, e) => t + Number(e.getAttribute('${attr}')), 0)`;
      await until('2 active on the charts of a', async () => (await page.evaluate(sum('active', 'data-last'))) === 2);
      await until('a rate on the charts of a', async () => Number(await page.evaluate(sum('rate', 'data-max'))) > 0);
      const counts = async () => (await page.textContent('[data-listener="front"]'))!;
      await until('the listener to count 8 accepted', async () => (await counts()).includes('accepted 8 · refused 0'));
    } finally {
      for (const s of held) s.destroy();
    }
    const chart = page.locator('[data-node="a/n0"] svg[data-chart="active"]');
    assert.ok(Number(await chart.getAttribute('data-samples')) > 1, 'more than one sample');
    assert.match((await chart.locator('path.line').getAttribute('d'))!, /^M[\d.]+ [\d.]+( L[\d.]+ [\d.]+)+$/);
    assert.is(await page.locator('[data-node="b/n0"] svg[data-chart="active"]').getAttribute('data-max'), '0');
  }));

test('the listener select points the listener at another cluster in every process', () =>
  withDashboard(async (r, page) => {
    await signedIn(page, r);
    await page.selectOption('[data-listener="front"] select[data-route]', 'b');
    const message = async () => ((await page.isVisible('#message')) ? await page.textContent('#message-text') : '(none)');
    try {
      await until('the route of front to be b', async () => r.group.generation.routes.get('front') === 'b');
    } catch (err) {
      throw new Error(`${(err as Error).message}; the page says: ${await message()}`);
    }
    await page.waitForSelector('[data-listener="front"][data-cluster="b"]');
    assert.match((await message())!, 'now sends new connections to cluster b');
    // New connections go to b whichever process accepts them.
    for (let i = 0; i < 6; i++) assert.is(await roundTrip(r.port, `m${i}`), `m${i}`);
    const totals = (await r.group.status()).map((n) => [n.key, n.totalConnections]);
    assert.equal(totals, [['a/n0', 0], ['a/n1', 0], ['b/n0', 6]]);
  }));

test("an error from the API is shown in the message area, and nothing changes", () =>
  withDashboard(async (r, page) => {
    await signedIn(page, r);
    // A state the API refuses: the page sends what the control says, the server answers 400.
    await page.evaluate(`document.querySelector('[data-node="a/n0"] [data-set-state="red"]').setAttribute('data-set-state', 'blue')`);
    await page.click('[data-node="a/n0"] [data-set-state="blue"]');
    await page.waitForSelector('#message.error', { state: 'visible' });
    assert.match((await page.textContent('#message-text'))!, 'Could not set node a/n0 blue: state: expected one of green, yellow, red');
    assert.ok((await statesOf(r, 'a/n0')).every((s) => s === 'green'));
    await page.click('#message-close');
    assert.ok(await page.isHidden('#message'));
  }));

test('a load factor set in the page reaches every process, shows, and is marked as set at run time', () =>
  withDashboard(async (r, page) => {
    await signedIn(page, r);
    const node = page.locator('[data-node="a/n0"]');
    assert.is(await node.locator('input[data-factor]').inputValue(), '1');
    assert.is(await node.locator('[data-runtime]').count(), 0, 'no run-time change yet');
    await node.locator('input[data-factor]').fill('2.5');
    await node.locator('button[data-set-factor]').click();
    await until('a/n0 at 2.5 in every process', async () => (await factorsOf(r, 'a/n0')).every((f) => f === 2.5));
    assert.ok((await factorsOf(r, 'a/n0')).length >= 2, 'more than one process');
    assert.ok((await factorsOf(r, 'a/n1')).every((f) => f === 1), 'no other node changed');
    await until('the page to show 2.5', async () => (await node.locator('dd[data-field="loadFactor"]').textContent()) === '2.5');
    assert.is(await node.locator('input[data-factor]').inputValue(), '2.5');
    assert.match((await page.textContent('#message-text'))!, 'a/n0 now has load factor 2.5');
    await node.locator('[data-runtime="factor"]').waitFor();
    assert.is(await node.locator('[data-runtime="factor"]').textContent(), 'set at run time; file says 1');
    assert.is(await page.locator('[data-node="a/n1"] [data-runtime]').count(), 0);

    // Back to the file's factor (with Enter this time): the override is gone, and so is the badge.
    await node.locator('input[data-factor]').fill('1');
    await node.locator('input[data-factor]').press('Enter');
    await until('a/n0 at 1 in every process', async () => (await factorsOf(r, 'a/n0')).every((f) => f === 1));
    await node.locator('[data-runtime="factor"]').waitFor({ state: 'detached' });
    assert.is(await node.locator('input[data-factor]').inputValue(), '1');
  }));

test('a factor of 0 or below shows the API\'s error and changes nothing', () =>
  withDashboard(async (r, page) => {
    await signedIn(page, r);
    const input = page.locator('[data-node="a/n0"] input[data-factor]');
    for (const [typed, how] of [['0', 'Enter'], ['-2', 'click']] as const) {
      await input.fill(typed);
      if (how === 'Enter') await input.press('Enter');
      else await page.click('[data-node="a/n0"] button[data-set-factor]');
      await page.waitForSelector('#message.error', { state: 'visible' });
      assert.is(
        await page.textContent('#message-text'),
        `Could not set the load factor of node a/n0 to "${typed}": factor: expected a number greater than 0, got ${typed}`,
      );
      assert.ok((await factorsOf(r, 'a/n0')).every((f) => f === 1), `${typed}: nothing changed`);
      assert.is(await input.inputValue(), '1', `${typed}: the input shows the factor in force again`);
      await page.click('#message-close');
      assert.ok(await page.isHidden('#message'));
    }
    assert.is(await page.locator('[data-runtime]').count(), 0);
    assert.is(await page.textContent('[data-node="a/n0"] dd[data-field="loadFactor"]'), '1');
  }));

test('the refresh leaves a factor input alone while the operator is typing in it', () =>
  withDashboard(async (r, page) => {
    await signedIn(page, r);
    const input = page.locator('[data-node="a/n1"] input[data-factor]');
    await input.fill('7'); // focuses it
    const before = await rounds(page, 'a/n1');
    await until('two more refreshes', async () => (await rounds(page, 'a/n1')) >= before + 2);
    assert.is(await input.inputValue(), '7', 'not overwritten while focused');
    assert.is(await page.evaluate(`document.activeElement.getAttribute('data-factor')`), 'a/n1', 'still focused');
    assert.ok((await factorsOf(r, 'a/n1')).every((f) => f === 1), 'typing alone sets nothing');
    // Left without setting: the next refresh shows the factor in force again.
    await page.click('h1');
    await until('the input back to 1', async () => (await input.inputValue()) === '1');
  }));

test('run-time changes are marked: a listener route, an added node, a removed node; routing back clears the mark', () =>
  withDashboard(async (r, page) => {
    await signedIn(page, r);
    const listener = page.locator('[data-listener="front"]');
    assert.is(await page.locator('[data-runtime]').count(), 0, 'nothing changed at run time yet');
    await page.selectOption('[data-listener="front"] select[data-route]', 'b');
    await page.waitForSelector('[data-listener="front"][data-cluster="b"]');
    await listener.locator('[data-runtime="route"]').waitFor();
    assert.is(await listener.locator('[data-runtime="route"]').textContent(), 'set at run time; file says a');

    // The admin API as a script would call it (not through the page).
    assert.is((await r.call('POST', '/clusters/b/nodes', { id: 'n9', address: r.addressB })).status, 201);
    assert.is((await r.call('DELETE', '/nodes/a/n1')).status, 200);
    await page.locator('[data-node="b/n9"] [data-runtime="added"]').waitFor();
    assert.is(await page.textContent('[data-node="b/n9"] [data-runtime="added"]'), 'added at run time');
    await page.locator('[data-node="a/n1"]').waitFor({ state: 'detached' });
    const removed = page.locator('[data-cluster-name="a"] [data-runtime="removed"]');
    await removed.waitFor();
    assert.is(await removed.textContent(), 'removed at run time: n1');
    assert.is(await page.locator('[data-node="a/n0"] [data-runtime], [data-node="b/n0"] [data-runtime]').count(), 0);

    // Back to the file's cluster: no override left, no badge.
    await page.selectOption('[data-listener="front"] select[data-route]', 'a');
    await page.waitForSelector('[data-listener="front"][data-cluster="a"]');
    await listener.locator('[data-runtime="route"]').waitFor({ state: 'detached' });
    assert.is(r.group.generation.routes.get('front'), 'a');
    assert.equal(Object.keys(r.group.balancer.runtimeChanges().routes), []);
  }));

test.run();
