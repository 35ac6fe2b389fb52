/**
 * Properties of the admin API's reading of requests (core/admin/request.ts, bounds.ts), with
 * fast-check: random paths, methods, headers and bodies (any JSON, random bytes, deep
 * nesting). Against the pure functions, many runs; against a live server, about 200. Every
 * outcome is a reading or a 4xx whose message names the path, the method, the body, the
 * authorization or a field; never a 5xx, never another exception.
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_HEADER } from '../../core/admin/address.ts';
import { checkAddress, checkLoadFactor, checkName, isHost, Refusal, BOUNDS } from '../../core/admin/bounds.ts';
import { bearerToken, LIMITS, matchRoute, nestsDeeper, parseBody, parsePath, readRequest, ROUTES } from '../../core/admin/request.ts';
import { startControlled } from '../helpers/admin.ts';
import { httpCall } from '../helpers/admin-raw.ts';
import { addr, closeServer, freePort, startEchoServer } from '../helpers/net.ts';

/** A fixed seed, as the other property tests (FC_SEED replays another; a failure prints it). */
const SEED = Number(process.env.FC_SEED ?? 20_240_612);

const TOKEN = 'tok-123';
/** A message that names what is wrong: `field: …`. */
const NAMED = /^[A-Za-z][\w.]*: \S/;

/** Run `f`; a Refusal must be a 4xx naming something, anything else thrown fails the property. */
function outcome<T>(f: () => T): T | Refusal {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    if (err.status < 400 || err.status > 499) throw new Error(`status ${err.status}: ${err.message}`);
    if (!NAMED.test(err.message)) throw new Error(`names nothing: ${err.message}`);
    if (err.message.length > 400) throw new Error(`${err.message.length} characters of message`);
    return err;
  }
}

const literals = [...new Set(ROUTES.flatMap((r) => r.pattern.filter((p) => !p.startsWith(':'))))];
const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...literals, 'c', 'n0', 'front', 'd', '127.0.0.1', '::1') },
  { weight: 2, arbitrary: fc.string({ maxLength: 20 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9%._~-]{0,24}$/) },
  { weight: 1, arbitrary: fc.constantFrom('%', '%E0%A4%A', '%ZZ', '%00', '..', '%2F', 'a'.repeat(200)) },
);
const PARAM_VALUES: Record<string, readonly string[]> = {
  ':cluster': ['c', 'd', 'zz'],
  ':node': ['n0', 'm0', 'n1', 'zz'],
  ':listener': ['front', '8080', 'zz'],
  ':client': ['127.0.0.1', '::1', 'fe80::1%25lo'],
};
/** A route's shape, its parameters plausible or random. */
const routePath = fc
  .tuple(fc.constantFrom(...ROUTES.map((r) => r.pattern)), fc.array(fc.oneof(fc.nat(3), segment), { minLength: 5, maxLength: 5 }))
  .map(([pattern, picks]) =>
    `/${pattern.map((p, i) => (p.startsWith(':') ? (typeof picks[i] === 'number' ? PARAM_VALUES[p]![picks[i] as number % 3]! : String(picks[i])) : p)).join('/')}`,
  );
const path = fc.oneof(routePath, fc.array(segment, { maxLength: 6 }).map((s) => `/${s.join('/')}`));
const method = fc.oneof(fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), fc.string({ maxLength: 12 }));
const authorization = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER  ${TOKEN} `) },
  fc.constantFrom(`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER  ${TOKEN} `, `Basic ${TOKEN}`, 'Bearer', ''),
  fc.string({ maxLength: 40 }),
  fc.constant(undefined),
);
/** How deep arrays and objects nest in a JSON value (a scalar: 0). */
const depthOf = (v: unknown): number =>
  typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
/** Arrays and objects nested round `inner`, with the whole text's depth. */
const nested = fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.jsonValue({ maxDepth: 3 })).map(([wraps, inner]) => {
  let text = JSON.stringify(inner) ?? 'null';
  for (let i = 0; i < wraps; i++) text = i % 3 === 0 ? `{"state":${text}}` : `[${text}]`;
  return { text, depth: wraps + depthOf(inner) };
});
const fieldValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('red', 'green', 'n1', '127.0.0.1:9', 'd', 5e-324, 0.001, 1000, 1e308));
const bodyObject = fc.record(
  { state: fieldValue, factor: fieldValue, id: fieldValue, address: fieldValue, loadFactor: fieldValue, cluster: fieldValue, fallover: fieldValue, connectTimeout: fieldValue },
  { requiredKeys: [] },
);
const body = fc.oneof(
  bodyObject.map((o) => JSON.stringify(o)),
  fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
  nested.map((n) => n.text),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
);
const utf8 = (s: string) => new TextEncoder().encode(s);

const pure = suite('admin request parsing: properties of the pure functions');

pure('parsePath: any target is segments or a 400/414 naming the path', () => {
  fc.assert(
    fc.property(fc.oneof(path, fc.string({ unit: 'binary', maxLength: 300 }), fc.webUrl(), fc.webPath()), (target) => {
      const r = outcome(() => parsePath(target));
      if (r instanceof Refusal) assert.match(r.message, /^path: /);
      else assert.ok(r.every((s) => typeof s === 'string' && s !== ''));
    }),
    { numRuns: 3000, seed: SEED },
  );
});

pure('matchRoute: a route, 404 naming the path, or 405 whose Allow lacks the method', () => {
  fc.assert(
    fc.property(fc.array(segment, { maxLength: 6 }), method, (segments, m) => {
      const r = outcome(() => matchRoute(segments, m));
      if (!(r instanceof Refusal)) return;
      if (r.status === 405) {
        const allow = r.headers.allow!.split(', ');
        assert.ok(allow.length > 0 && !allow.includes(m));
        assert.match(r.message, /^method: /);
      } else {
        assert.is(r.status, 404);
        assert.match(r.message, /^path: no such endpoint/);
      }
    }),
    { numRuns: 3000, seed: SEED },
  );
  assert.is((outcome(() => matchRoute(['api', 'status'], 'constructor')) as Refusal).status, 405, 'no inherited keys');
  assert.is((outcome(() => matchRoute(['api', '\ud800'], 'GET')) as Refusal).status, 404, 'a lone surrogate is shown, not thrown');
});

pure('bearerToken: the scheme in any case; never throws', () => {
  const token68 = fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,40}=*$/);
  fc.assert(
    fc.property(token68, fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), (token, upper) => {
      const scheme = [...'bearer'].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('');
      assert.is(bearerToken(`${scheme} ${token}`), token);
    }),
  );
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (h) => void bearerToken(h)));
});

pure('parseBody: random bytes are an object or a 400/413 naming the body', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), body.map(utf8)), (bytes) => {
      const r = outcome(() => parseBody(bytes));
      if (r instanceof Refusal) assert.match(r.message, /^body: /);
      else assert.ok(typeof r === 'object' && r !== null && !Array.isArray(r));
    }),
    { numRuns: 3000, seed: SEED },
  );
  assert.is((outcome(() => parseBody(new Uint8Array(LIMITS.body + 1))) as Refusal).status, 413);
});

pure('parseBody: any JSON object within 32 levels comes back equal; deeper is "nested too deeply"', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 })), (obj) => {
      assert.equal(parseBody(utf8(JSON.stringify(obj))), JSON.parse(JSON.stringify(obj)));
    }),
  );
  fc.assert(
    fc.property(nested, ({ text, depth }) => {
      const r = outcome(() => parseBody(utf8(text)));
      const tooDeep = r instanceof Refusal && /^body: nested too deeply/.test(r.message);
      assert.is(tooDeep, depth > LIMITS.depth, `depth ${depth}`);
      assert.is(nestsDeeper(text, LIMITS.depth), depth > LIMITS.depth);
    }),
    { numRuns: 1000, seed: SEED },
  );
  // Brackets inside strings (escaped quotes too) do not count.
  assert.is(nestsDeeper(JSON.stringify({ a: '['.repeat(100), b: '\\"{{{{' }), 1), false);
});

pure('readRequest: any head and body is a request or a 4xx naming what is wrong', () => {
  fc.assert(
    fc.property(method, fc.oneof(path, fc.string({ unit: 'binary', maxLength: 60 }).map((s) => `/api/nodes/${s}`)), authorization, body, (m, target, auth, text) => {
      const r = outcome(() => readRequest({ method: m, url: target, authorization: auth }, utf8(text), TOKEN));
      if (!(r instanceof Refusal)) assert.ok(ROUTES.some((route) => Object.values(route.methods).includes(r.route)));
    }),
    { numRuns: 5000, seed: SEED },
  );
});

pure('checkers: what they take is within the bounds', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.stringMatching(/^[A-Za-z0-9][\w.-]{0,140}$/)), (s) => {
      const r = outcome(() => checkName('id', s));
      if (!(r instanceof Refusal)) assert.ok(s.length <= BOUNDS.name && /^[A-Za-z0-9]/.test(s));
    }),
  );
  fc.assert(
    fc.property(fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 300 })), fc.integer({ min: -1, max: 70000 }), (host, port) => {
      const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      const r = outcome(() => checkAddress('address', address));
      if (!(r instanceof Refusal)) assert.ok(port >= 1 && port <= 65535 && isHost(host.trim()) && host.trim().length <= BOUNDS.host + 1);
    }),
    { numRuns: 2000, seed: SEED },
  );
  fc.assert(
    fc.property(fc.oneof(fc.double(), fc.jsonValue()), (v) => {
      const r = outcome(() => checkLoadFactor('factor', v));
      if (!(r instanceof Refusal)) assert.ok(typeof v === 'number' && v >= 0.001 && v <= 1000);
    }),
  );
});

const live = suite('admin API: random requests against a live server');
let rig: (Awaited<ReturnType<typeof startControlled>> & { echo: Awaited<ReturnType<typeof startEchoServer>> }) | undefined;
live.before(async () => {
  const echo = await startEchoServer();
  const port = await freePort();
  const c = await startControlled(`export default {
  listeners: [{ name: 'front', port: ${port}, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'n0', address: '${addr(echo)}' }] }, d: { nodes: [{ id: 'm0', address: '${addr(echo)}' }] } },
  admin: { token: '${TOKEN}' }, workers: 1, watch: false, stateDir: './state', log: { level: 'silent' },
};\n`);
  rig = { ...c, echo };
});
live.after(async () => {
  await rig?.stop();
  if (rig) await closeServer(rig.echo);
});

/** Send one request and check its answer: no 5xx, the mark, a refusal naming what is wrong. */
async function send(seen: Map<number, number>, m: string, target: string, headers: Record<string, string>, text: string | undefined): Promise<void> {
  const reply = await httpCall(rig!.origin, m, target, { headers, body: text === undefined ? undefined : Buffer.from(text, 'latin1') });
  seen.set(reply.status, (seen.get(reply.status) ?? 0) + 1);
  assert.ok(reply.status < 500, `${m} ${target}: ${reply.status} ${reply.text}`);
  assert.ok(reply.headers[MARK_HEADER], 'the mark');
  if (reply.status < 400 || m === 'HEAD') return;
  // An unknown cluster, node or listener (404) or a change not possible now (409) is named
  // in the message ("no node x in cluster c"); every other refusal leads with the field.
  const error = String(reply.json?.error);
  if (reply.status === 404 || reply.status === 409) assert.ok(error.length > 0 && error.length <= 600, reply.text);
  else assert.match(error, NAMED, reply.text);
}

live('~200 random requests: never a 5xx; every refusal is JSON with an error naming a field or the path', async () => {
  const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/);
  const seen = new Map<number, number>();
  // Anything: methods, paths, tokens, headers and bodies.
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
      path,
      authorization.map((a) => (a === undefined || /^[\x20-\x7e]*$/.test(a) ? a : undefined)),
      fc.dictionary(fc.stringMatching(/^x-[a-z]{1,10}$/), headerValue, { maxKeys: 3 }),
      body,
      async (m, target, auth, extra, text) => {
        const headers: Record<string, string> = { ...extra, ...(auth === undefined ? {} : { authorization: auth }) };
        await send(seen, m, target, headers, m === 'GET' || m === 'HEAD' ? undefined : text);
      },
    ),
    { numRuns: 120, seed: SEED },
  );
  // The routes that read a body, with their method and the token: the body is what varies.
  const bodyRoutes = fc.constantFrom(
    ['PUT', '/api/nodes/c/n0/state'],
    ['PUT', '/api/nodes/c/n0/factor'],
    ['POST', '/api/clusters/c/nodes'],
    ['PUT', '/api/listeners/front/cluster'],
  );
  await fc.assert(
    fc.asyncProperty(bodyRoutes, fc.oneof(fc.constantFrom('{"state":"red"}', '{"factor":2}', '{"id":"n1","address":"127.0.0.1:9"}', '{"cluster":"d"}'), body), async ([m, target], text) => {
      await send(seen, m!, target!, { authorization: `Bearer ${TOKEN}` }, text);
    }),
    { numRuns: 80, seed: SEED },
  );
  if (process.env.PB_FUZZ_VERBOSE) console.log(Object.fromEntries(seen));
  assert.ok([200, 400, 401, 404, 405].every((status) => seen.has(status)), `the runs reached past each check: ${JSON.stringify([...seen])}`);
  const fives = rig!.logger.lines.filter((l) => l.msg === 'admin API internal error');
  assert.equal(fives, [], 'no internal error was logged');
});

pure.run();
live.run();
