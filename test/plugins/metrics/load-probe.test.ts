import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type { Server } from 'node:net';
import type { Config, ProbeConfig } from '../../../core/index.ts';
import { parseNumber } from '../../../plugins/metrics/load-probe.ts';
import { oneCluster, startBalancer, type TestBalancer } from '../../helpers/balancer.ts';
import { addr, closeServer, HOST, portOf, startServer, waitFor } from '../../helpers/net.ts';

const INTERVAL = 100;
const NODE = 'c/n0';

/** An HTTP server answering `body` with `status`; counts requests. */
interface ProbeServer {
  server: http.Server;
  url: string;
  body: string;
  status: number;
  /** Answer nothing at all (to make the probe time out). */
  silent: boolean;
  requests: number;
}

async function startHttpProbe(body: string): Promise<ProbeServer> {
  const probe = { body, status: 200, silent: false, requests: 0 } as ProbeServer;
  probe.server = http.createServer((req, res) => {
    probe.requests++;
    req.resume();
    if (probe.silent) return;
    res.writeHead(probe.status, { 'content-type': 'text/plain' });
    res.end(probe.body);
  });
  await new Promise<void>((resolve) => probe.server.listen(0, HOST, resolve));
  probe.url = `http://${HOST}:${portOf(probe.server as unknown as Server)}/load`;
  return probe;
}

function closeHttp(probe: ProbeServer): Promise<void> {
  return closeServer(probe.server as unknown as Server);
}

/** A TCP server writing `body` to every connection and closing it. */
async function startTcpProbe(body: string): Promise<Server & { body: string; connections: number }> {
  const server = (await startServer((socket) => {
    server.connections++;
    socket.end(server.body);
  })) as Server & { body: string; connections: number };
  server.body = body;
  server.connections = 0;
  return server;
}

function withProbe(probe: ProbeConfig): Config {
  const config = oneCluster(['127.0.0.1:1']);
  config.clusters.c!.nodes[0]!.probe = probe;
  return config;
}

const metric = (t: TestBalancer, name = 'load') => t.balancer.node(NODE)?.metrics[name];

const warnings = (t: TestBalancer) =>
  t.logger.lines.filter((l) => l.level === 'warn' && l.fields.plugin === 'load-probe');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ─── parsing ────────────────────────────────────────────────────────────────

const parsing = suite('load-probe: parsing the answer');

parsing('the first number in the body', () => {
  assert.is(parseNumber('0.73\n'), 0.73);
  assert.is(parseNumber('  42  '), 42);
  assert.is(parseNumber('load 12'), 12);
  assert.is(parseNumber('load: 3.5 of 8'), 3.5);
  assert.is(parseNumber('-2'), -2);
  assert.is(parseNumber('.5'), 0.5);
  assert.is(parseNumber('1e3'), 1000);
});

parsing('no number is undefined', () => {
  assert.is(parseNumber(''), undefined);
  assert.is(parseNumber('hello'), undefined);
  assert.is(parseNumber('NaN'), undefined);
  assert.is(parseNumber('Infinity'), undefined);
  assert.is(parseNumber('1e999'), undefined);
});

// ─── polling ────────────────────────────────────────────────────────────────

const polling = suite('load-probe: polling');

polling('http: the served number appears as node.metrics.load and follows changes', async () => {
  const probe = await startHttpProbe('0.73\n');
  const t = await startBalancer(withProbe({ url: probe.url, interval: `${INTERVAL}ms` }));
  try {
    await waitFor(() => metric(t) === 0.73, 3000, 'the first value');
    const before = t.balancer.node(NODE)!.metrics;
    probe.body = 'load 12';
    await waitFor(() => metric(t) === 12, 3000, 'the changed value');
    assert.is(before.load, 0.73, 'a reader holding the old metrics object keeps its snapshot');
    assert.is.not(t.balancer.node(NODE)!.metrics, before, 'the metrics object is replaced, not mutated');
    assert.is(warnings(t).length, 0);
  } finally {
    await t.stop();
    await closeHttp(probe);
  }
});

polling('tcp: the number written before close appears, under the configured metric name', async () => {
  const server = await startTcpProbe('7\n');
  const t = await startBalancer(withProbe({ tcp: addr(server), interval: `${INTERVAL}ms`, metric: 'queue' }));
  try {
    await waitFor(() => metric(t, 'queue') === 7, 3000, 'the first value');
    assert.is(metric(t), undefined, 'nothing under the default name');
    server.body = '9.25';
    await waitFor(() => metric(t, 'queue') === 9.25, 3000, 'the changed value');
  } finally {
    await t.stop();
    await closeServer(server);
  }
});

polling('the first poll happens at init, without waiting an interval', async () => {
  const probe = await startHttpProbe('5');
  const t = await startBalancer(withProbe({ url: probe.url, interval: '1h' }));
  try {
    await waitFor(() => metric(t) === 5, 3000, 'the first value');
    assert.is(probe.requests, 1);
  } finally {
    await t.stop();
    await closeHttp(probe);
  }
});

polling('start is not held up by a probe that does not answer', async () => {
  const probe = await startHttpProbe('5');
  probe.silent = true;
  const began = Date.now();
  const t = await startBalancer(withProbe({ url: probe.url, interval: '10s', timeout: '5s' }));
  try {
    assert.ok(Date.now() - began < 2000, `start took ${Date.now() - began} ms`);
  } finally {
    await t.stop();
    await closeHttp(probe);
  }
});

// ─── failures ───────────────────────────────────────────────────────────────

const failures = suite('load-probe: failures');

failures('a refused probe keeps the value, warns once, then drops it after 3 failures', async () => {
  const probe = await startHttpProbe('5');
  const t = await startBalancer(withProbe({ url: probe.url, interval: `${INTERVAL}ms` }));
  try {
    await waitFor(() => metric(t) === 5, 3000, 'the first value');
    await closeHttp(probe);
    await waitFor(() => warnings(t).length > 0, 3000, 'a warning');
    assert.is(metric(t), 5, 'the last value is kept after the first failure');
    const first = warnings(t)[0]!;
    assert.is(first.fields.node, NODE);
    assert.match(String(first.fields.err), /ECONNREFUSED/);
    await waitFor(() => metric(t) === undefined, 3000, 'the value dropped');
    assert.not.ok('load' in t.balancer.node(NODE)!.metrics);
    const logged = warnings(t).length;
    assert.is(logged, 2, 'one warning when failing starts, one when the value is dropped');
    await sleep(4 * INTERVAL);
    assert.is(warnings(t).length, logged, 'no warning on every further failed poll');
  } finally {
    await t.stop();
    await closeHttp(probe).catch(() => {});
  }
});

failures('a non-number body is a failure: the value is kept, then dropped', async () => {
  const probe = await startHttpProbe('3');
  const t = await startBalancer(withProbe({ url: probe.url, interval: `${INTERVAL}ms` }));
  try {
    await waitFor(() => metric(t) === 3, 3000, 'the first value');
    probe.body = 'hello';
    await waitFor(() => warnings(t).length > 0, 3000, 'a warning');
    assert.is(metric(t), 3);
    assert.match(String(warnings(t)[0]!.fields.err), /no number/);
    await waitFor(() => metric(t) === undefined, 3000, 'the value dropped');
  } finally {
    await t.stop();
    await closeHttp(probe);
  }
});

failures('a non-2xx status is a failure; the probe recovers when the node answers again', async () => {
  const probe = await startHttpProbe('4');
  const t = await startBalancer(withProbe({ url: probe.url, interval: `${INTERVAL}ms` }));
  try {
    await waitFor(() => metric(t) === 4, 3000, 'the first value');
    probe.status = 503;
    probe.body = '99';
    await waitFor(() => warnings(t).length > 0, 3000, 'a warning');
    assert.match(String(warnings(t)[0]!.fields.err), /503/);
    assert.is(metric(t), 4, 'the body of a failed answer is not taken');
    probe.status = 200;
    probe.body = '6';
    await waitFor(() => metric(t) === 6, 3000, 'the value after recovery');
    assert.ok(t.logger.lines.some((l) => l.fields.plugin === 'load-probe' && /again/.test(l.msg)));
  } finally {
    await t.stop();
    await closeHttp(probe);
  }
});

failures('a probe that does not answer within its timeout is a failure', async () => {
  const probe = await startHttpProbe('8');
  const t = await startBalancer(withProbe({ url: probe.url, interval: `${INTERVAL}ms`, timeout: '50ms' }));
  try {
    await waitFor(() => metric(t) === 8, 3000, 'the first value');
    probe.silent = true;
    await waitFor(() => warnings(t).length > 0, 3000, 'a warning');
    assert.match(String(warnings(t)[0]!.fields.err), /timed out after 50 ms/);
    await waitFor(() => metric(t) === undefined, 3000, 'the value dropped');
  } finally {
    await t.stop();
    await closeHttp(probe);
  }
});

failures('a tcp probe that is refused never sets a value and does not throw', async () => {
  const server = await startTcpProbe('1');
  const target = addr(server);
  await closeServer(server);
  const t = await startBalancer(withProbe({ tcp: target, interval: `${INTERVAL}ms` }));
  try {
    await waitFor(() => warnings(t).length > 0, 3000, 'a warning');
    await sleep(4 * INTERVAL);
    assert.is(metric(t), undefined);
    assert.is(warnings(t).length, 1, 'no value was dropped, so one warning only');
  } finally {
    await t.stop();
  }
});

// ─── lifecycle ──────────────────────────────────────────────────────────────

const lifecycle = suite('load-probe: lifecycle');

lifecycle('stop ends polling: the server sees no request after it', async () => {
  const probe = await startHttpProbe('2');
  const t = await startBalancer(withProbe({ url: probe.url, interval: `${INTERVAL}ms` }));
  try {
    await waitFor(() => probe.requests >= 3, 3000, 'a few polls');
  } finally {
    await t.stop();
  }
  try {
    await sleep(50); // a request sent just before stop may still be arriving
    const seen = probe.requests;
    await sleep(5 * INTERVAL);
    assert.is(probe.requests, seen, 'no request after stop');
    assert.is(metric(t), undefined, 'a metric no probe feeds any more is deleted');
  } finally {
    await closeHttp(probe);
  }
});

lifecycle('reload: a kept probe keeps its value; a removed probe stops and its metric goes', async () => {
  const probe = await startHttpProbe('1.5');
  const config = withProbe({ url: probe.url, interval: `${INTERVAL}ms` });
  const t = await startBalancer(config);
  try {
    await waitFor(() => metric(t) === 1.5, 3000, 'the first value');
    await t.balancer.reload(config);
    assert.is(metric(t), 1.5, 'the value survives a reload that keeps the probe');
    probe.body = '2.5';
    await waitFor(() => metric(t) === 2.5, 3000, 'the new generation polls');

    await t.balancer.reload(oneCluster(['127.0.0.1:1']));
    assert.is(metric(t), undefined, 'the metric of a removed probe is deleted');
    await sleep(50);
    const seen = probe.requests;
    await sleep(4 * INTERVAL);
    assert.is(probe.requests, seen, 'the old generation stopped polling');
  } finally {
    await t.stop();
    await closeHttp(probe);
  }
});

parsing.run();
polling.run();
failures.run();
lifecycle.run();
