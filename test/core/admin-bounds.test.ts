/**
 * The admin API against bad input (issue 12, item 4): every bad request is a 4xx naming the
 * problem, never a 500; ids, names, hosts, ports and factors have bounds; the bearer scheme
 * is case-insensitive; a wrong method is 405 with `Allow`; every answer has the mark. The
 * first suite is the list, each a request that failed on the old server.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_HEADER } from '../../core/admin/address.ts';
import { startControlled } from '../helpers/admin.ts';
import { httpCall, socketCall, type RawReply } from '../helpers/admin-raw.ts';
import { addr, closeServer, freePort, startEchoServer } from '../helpers/net.ts';

type Rig = Awaited<ReturnType<typeof startControlled>> & { echo: Awaited<ReturnType<typeof startEchoServer>>; port: number };
let rig: Rig | undefined;

async function start(): Promise<Rig> {
  const echo = await startEchoServer();
  const port = await freePort();
  const c = await startControlled(`export default {
  listeners: [{ name: 'front', port: ${port}, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'n0', address: '${addr(echo)}' }] }, d: { nodes: [{ id: 'm0', address: '${addr(echo)}' }] } },
  workers: 1, watch: false, stateDir: './state', log: { level: 'silent' },
};\n`);
  return { ...c, echo, port };
}

const r = () => rig!;
/** A request with the token; `body` is sent as it is (a string) or as JSON. */
async function call(method: string, target: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawReply> {
  const text = body === undefined || typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  const reply = await httpCall(r().origin, method, target, { headers: { authorization: `Bearer ${r().token}`, ...headers }, body: text });
  assert.ok(reply.headers[MARK_HEADER], `${method} ${target}: the answer carries ${MARK_HEADER}`);
  return reply;
}
/** Expect a refusal: the status, and an error matching `error`. */
function refused(reply: RawReply, status: number, error: RegExp): void {
  assert.is(reply.status, status, reply.text);
  assert.match(String(reply.json?.error), error);
}

const setup = async () => {
  rig = await start();
};
const teardown = async () => {
  await rig?.stop();
  if (rig) await closeServer(rig.echo);
  rig = undefined;
};

const old = suite('admin bounds: the answers that were 500s');
old.before(setup);
old.after(teardown);

old('a null body (or any JSON not an object) is 400 naming the body, on every route that reads one', async () => {
  for (const [method, target] of [
    ['PUT', '/api/nodes/c/n0/state'],
    ['PUT', '/api/nodes/c/n0/factor'],
    ['POST', '/api/clusters/c/nodes'],
    ['PUT', '/api/listeners/front/cluster'],
  ] as const) {
    refused(await call(method, target, 'null'), 400, /^body: expected a JSON object, got null$/);
    refused(await call(method, target, '[1]'), 400, /^body: expected a JSON object, got an array$/);
    refused(await call(method, target, '"red"'), 400, /^body: expected a JSON object, got "red"$/);
    refused(await call(method, target, '7'), 400, /^body: expected a JSON object, got 7$/);
  }
});

old('JSON nested 32k deep is 400 "nested too deeply", wherever it is', async () => {
  const deep = `${'['.repeat(32_000)}${']'.repeat(32_000)}`;
  refused(await call('PUT', '/api/nodes/c/n0/state', `{"state":${deep}}`), 400, /^body: nested too deeply/);
  refused(await call('PUT', '/api/nodes/c/n0/state', deep), 400, /^body: nested too deeply/);
  refused(await call('POST', '/api/clusters/c/nodes', `{"id":"x","address":"127.0.0.1:9","probe":${deep}}`), 400, /^body: nested too deeply/);
  const objects = `${'{"a":'.repeat(40)}1${'}'.repeat(40)}`;
  refused(await call('PUT', '/api/listeners/front/cluster', `{"cluster":${objects}}`), 400, /^body: nested too deeply \(more than 32 levels\)/);
  // 32 levels are fine: the field is then what is wrong.
  refused(await call('PUT', '/api/nodes/c/n0/state', `{"state":${'['.repeat(31)}${']'.repeat(31)}}`), 400, /^state: expected one of/);
});

old('bad %-encoding in the path is 400 naming the path', async () => {
  refused(await call('GET', '/api/affinity/c/%E0%A4%A'), 400, /^path: bad %-encoding/);
  refused(await call('PUT', '/api/nodes/c/%ZZ/state', { state: 'red' }), 400, /^path: bad %-encoding/);
  refused(await call('GET', '/api/%'), 400, /^path: bad %-encoding/);
  assert.is((await call('GET', '/api/st%61tus')).status, 200, 'good %-encoding decodes');
});

old('a 60,000-character node id and a 3,000-character host are refused, naming the field', async () => {
  refused(await call('POST', '/api/clusters/c/nodes', { id: 'a'.repeat(60_000), address: '127.0.0.1:9' }), 400, /^id: expected a name of 1-128 .*\(60000 characters\)$/);
  refused(await call('POST', '/api/clusters/c/nodes', { id: 'h', address: `${'b'.repeat(3000)}:80` }), 400, /^address: expected "host:port" with a host of at most 253 characters/);
  refused(await call('PUT', `/api/nodes/c/${'a'.repeat(1000)}/state`, { state: 'red' }), 400, /^node: expected a name/);
  assert.is(r().group.balancer.clusters().find((c) => c.name === 'c')!.nodes.length, 1, 'nothing was added');
});

old('the bearer scheme is case-insensitive', async () => {
  for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
    assert.is((await httpCall(r().origin, 'GET', '/api/status', { headers: { authorization: `${scheme} ${r().token}` } })).status, 200, scheme);
  }
  assert.is((await httpCall(r().origin, 'GET', '/api/status', { headers: { authorization: `Bearer   ${r().token}  ` } })).status, 200, 'blanks round the token');
  for (const auth of [`Basic ${r().token}`, 'Bearer', `Bearer${r().token}`, `Bearer ${r().token} x`, '']) {
    const reply = await httpCall(r().origin, 'GET', '/api/status', { headers: { authorization: auth } });
    refused(reply, 401, /^authorization: expected "Bearer <token>"/);
    assert.is(reply.headers['www-authenticate'], 'Bearer realm="protobalance"');
  }
});

old('a wrong method is 405 with Allow listing what the path takes', async () => {
  const cases: [string, string, string][] = [
    ['POST', '/api/status', 'GET'],
    ['PATCH', '/api/changes', 'GET, DELETE'],
    ['GET', '/api/nodes/c/n0', 'DELETE'],
    ['DELETE', '/api/nodes/c/n0/state', 'PUT'],
    ['GET', '/api/reload', 'POST'],
    ['PUT', '/api/affinity/c/127.0.0.1', 'GET, DELETE'],
    ['POST', '/metrics', 'GET'],
    ['DELETE', '/dashboard', 'GET'],
  ];
  for (const [method, target, allow] of cases) {
    const reply = await call(method, target);
    refused(reply, 405, /^method: /);
    assert.is(reply.headers.allow, allow, `${method} ${target}`);
  }
  refused(await call('GET', '/api/nothing'), 404, /^path: no such endpoint: "\/api\/nothing"/);
  refused(await call('GET', '/api/nodes/c/n0/x'), 404, /^path: no such endpoint/);
});

old('listener names are checked as names', async () => {
  refused(await call('PUT', '/api/listeners/a%20b/cluster', { cluster: 'd' }), 400, /^listener: expected a name/);
  refused(await call('PUT', `/api/listeners/${'l'.repeat(129)}/cluster`, { cluster: 'd' }), 400, /^listener: expected a name/);
  refused(await call('PUT', '/api/listeners/..%2F..%2Fetc/cluster', { cluster: 'd' }), 400, /^listener: expected a name/);
  refused(await call('PUT', '/api/listeners/front/cluster', { cluster: 'no such/cluster' }), 400, /^cluster: expected a name/);
  refused(await call('PUT', '/api/listeners/back/cluster', { cluster: 'd' }), 404, /^no listener back/);
  assert.is(r().group.generation.routes.get('front'), 'c', 'nothing changed');
});

old('load factors: 5e-324 and 1001 refused, 0.001 and 1000 taken; a 0 keeps its old message', async () => {
  refused(await call('PUT', '/api/nodes/c/n0/factor', '{"factor":5e-324}'), 400, /^factor: expected a number from 0.001 to 1000, got 5e-324$/);
  refused(await call('PUT', '/api/nodes/c/n0/factor', { factor: 1001 }), 400, /^factor: expected a number from 0.001 to 1000/);
  refused(await call('PUT', '/api/nodes/c/n0/factor', '{"factor":1e999}'), 400, /^factor: expected a number from 0.001 to 1000, got Infinity/);
  refused(await call('PUT', '/api/nodes/c/n0/factor', { factor: 0 }), 400, /^factor: expected a number greater than 0, got 0/);
  refused(await call('POST', '/api/clusters/c/nodes', { id: 'n9', address: '127.0.0.1:9', loadFactor: 5e-324 }), 400, /^loadFactor: expected a number from 0.001/);
  for (const factor of [0.001, 1000, 1]) assert.is((await call('PUT', '/api/nodes/c/n0/factor', { factor })).status, 200, String(factor));
});

const bounds = suite('admin bounds: ids, names, hosts, ports, clients, durations');
bounds.before(setup);
bounds.after(teardown);

bounds('ids: 128 characters taken, 129 refused; the first a letter or digit', async () => {
  const id128 = `n${'x'.repeat(127)}`;
  assert.is((await call('POST', '/api/clusters/c/nodes', { id: id128, address: addr(r().echo) })).status, 201);
  assert.is((await call('DELETE', `/api/nodes/c/${id128}`)).status, 200);
  refused(await call('POST', '/api/clusters/c/nodes', { id: `${id128}x`, address: addr(r().echo) }), 400, /^id: expected a name of 1-128/);
  refused(await call('POST', '/api/clusters/c/nodes', { id: '-x', address: addr(r().echo) }), 400, /^id: /);
  refused(await call('POST', '/api/clusters/c/nodes', { id: 'ok', address: addr(r().echo), fallover: 'a b' }), 400, /^fallover: expected a name/);
});

bounds('hosts: a DNS name of at most 253 characters (labels of 63) or an IP address; ports 1-65535', async () => {
  const label = 'a'.repeat(63);
  const long = [label, label, label, 'a'.repeat(61)].join('.'); // 253 characters
  assert.is(long.length, 253);
  const add = (address: string) => call('POST', '/api/clusters/c/nodes', { id: 'h', address });
  assert.is((await add(`${long}:80`)).status, 201);
  assert.is((await call('DELETE', '/api/nodes/c/h')).status, 200);
  refused(await add(`${long}a:80`), 400, /^address: expected "host:port" whose host is an IP address or a host name/);
  refused(await add(`${'a'.repeat(64)}.example:80`), 400, /^address: .*labels of 1-63/);
  refused(await add('a..b:80'), 400, /^address: /);
  refused(await add('-a.example:80'), 400, /^address: /);
  refused(await add('999.1.1.1:80'), 400, /^address: .*IP address/);
  refused(await add('127.0.0.1:0'), 400, /^address: expected a port 1-65535/);
  refused(await add('127.0.0.1:65536'), 400, /^address: expected a port 1-65535/);
  refused(await add('127.0.0.1:'), 400, /^address: expected "host:port"/);
  refused(await add('[::1'), 400, /^address: expected "host:port"/);
  refused(await call('POST', '/api/clusters/c/nodes', { id: 'h', address: '127.0.0.1:9', probe: { tcp: `${'b'.repeat(300)}:1` } }), 400, /^probe\.tcp: /);
  for (const address of ['[::1]:9', 'localhost:9', 'node_1.internal.:9', '127.0.0.2', '[::1]']) {
    assert.is((await add(address)).status, 201, address);
    assert.is((await call('DELETE', '/api/nodes/c/h')).status, 200);
  }
});

bounds('clients (affinity) are IP addresses; durations at most 24 days', async () => {
  refused(await call('GET', '/api/affinity/c/not-an-ip'), 400, /^client: expected an IPv4 or IPv6 address/);
  refused(await call('DELETE', `/api/affinity/c/${'1'.repeat(100)}`), 400, /^client: /);
  refused(await call('GET', '/api/affinity/c%20x/127.0.0.1'), 400, /^cluster: expected a name/);
  assert.is((await call('GET', '/api/affinity/c/fe80::1%25eth0')).status, 404, 'a zone is an address; no binding');
  refused(await call('POST', '/api/clusters/c/nodes', { id: 't', address: '127.0.0.1:9', connectTimeout: '25d' }), 400, /^connectTimeout: expected a duration of at most "24d"/);
  refused(await call('POST', '/api/clusters/c/nodes', { id: 't', address: '127.0.0.1:9', connectTimeout: 1e300 }), 400, /^connectTimeout: /);
  refused(await call('POST', '/api/clusters/c/nodes', { id: 't', address: '127.0.0.1:9', probe: { tcp: '127.0.0.1:9', interval: '99d' } }), 400, /^probe\.interval: /);
});

const wire = suite('admin bounds: the wire — sizes, encodings, methods Node refuses, our own errors');
wire.before(setup);
wire.after(teardown);

wire('a body over 64 KiB is 413, by Content-Length or as it comes', async () => {
  const big = JSON.stringify({ state: 'red', pad: 'x'.repeat(70_000) });
  refused(await call('PUT', '/api/nodes/c/n0/state', big), 413, /^body: larger than 65536 bytes$/);
  const head = `PUT /api/nodes/c/n0/state HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${r().token}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n`;
  const chunk = Buffer.byteLength(big).toString(16);
  const reply = await socketCall(Number(new URL(r().origin).port), `${head}${chunk}\r\n${big}\r\n0\r\n\r\n`);
  refused(reply, 413, /^body: larger than/);
  assert.ok(reply.headers[MARK_HEADER]);
  assert.equal((await r().group.statusByProcess()).map((l) => l[0]!.state), ['green'], 'nothing changed');
});

wire('not UTF-8, not JSON: 400 naming the body', async () => {
  refused(await call('PUT', '/api/nodes/c/n0/state', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 400, /^body: not UTF-8 text$/);
  refused(await call('PUT', '/api/nodes/c/n0/state', '{"state":'), 400, /^body: not JSON/);
  refused(await call('PUT', '/api/nodes/c/n0/state', '{"state":"red"'), 400, /^body: not JSON/);
});

wire('what Node refuses before a request exists is answered in JSON with the mark', async () => {
  const port = Number(new URL(r().origin).port);
  const bigHeader = await httpCall(r().origin, 'GET', '/api/status', { headers: { authorization: `Bearer ${r().token}`, 'x-pad': 'p'.repeat(20_000) } });
  assert.is(bigHeader.status, 431);
  assert.ok(bigHeader.headers[MARK_HEADER]);
  assert.match(String(bigHeader.json?.error), /^headers: larger than 16 KiB/);
  for (const line of ['FOO /api/status HTTP/1.1', 'GET /api/st atus HTTP/1.1', 'GET /api/status HTTP/9.9', 'garbage']) {
    const reply = await socketCall(port, `${line}\r\nhost: x\r\nconnection: close\r\n\r\n`);
    assert.is(reply.status, 400, line);
    assert.ok(reply.headers[MARK_HEADER], line);
    assert.match(String(reply.json?.error), /^(method|path|request): /, line);
  }
  refused(await call('GET', `/api/${'s'.repeat(3000)}`), 414, /^path: longer than 2048 characters$/);
  refused(await call('GET', 'http://admin/api/nothing'), 404, /^path: no such endpoint/);
  assert.is((await call('GET', 'http://admin/api/status')).status, 200, 'the absolute form');
});

wire('500 is only for our own failures, and is logged with its stack', async () => {
  const group = r().group;
  const real = group.change.bind(group);
  group.change = async () => {
    throw new Error('a worker went away');
  };
  try {
    refused(await call('PUT', '/api/nodes/c/n0/factor', { factor: 2 }), 500, /^internal error: a worker went away$/);
  } finally {
    group.change = real;
  }
  const line = r().logger.lines.find((l) => l.msg === 'admin API internal error');
  assert.ok(line, 'logged');
  assert.match(String(line!.fields.err), 'at ');
  const refusals = r().logger.lines.filter((l) => l.msg === 'admin API request' && Number(l.fields.status) >= 500);
  assert.is(refusals.length, 1, 'no refusal of input was a 5xx');
});

old.run();
bounds.run();
wire.run();
