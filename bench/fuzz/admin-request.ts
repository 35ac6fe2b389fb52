/**
 * Coverage-guided fuzz target (@jazzer.js/core) for the admin API's reading of requests
 * (core/admin/request.ts and core/admin/bounds.ts): the path, the route, the bearer token,
 * the body and every field's bounds. Run as `npm run fuzz -- admin-request --seconds N`.
 *
 * `fuzz(data)` reads `data` as a request: the first line is `METHOD TARGET`, the second the
 * Authorization header's value (`$TOKEN` in it stands for the token), the rest the body's
 * bytes; `SEEDS` are such requests, one per route, for a starting corpus. It also feeds the whole of
 * `data` to each parser alone (as a target, a header, a body, a field). It throws only on
 * a real bug, that is an answer the server would make a 5xx:
 * - any exception other than a `Refusal` (the server would answer 500);
 * - a Refusal whose status is not a 4xx, whose message names no field (`field: …`), or is
 *   longer than 400 characters (answers and log lines must not grow with the input);
 * - a 405 whose `Allow` is empty or holds the method refused;
 * - a body read that is not a plain object.
 * No I/O and no server: the target runs at the parser's speed.
 */
import { checkAddress, checkClient, checkLoadFactor, checkName, Refusal } from '../../core/admin/bounds.ts';
import { bearerToken, BODY_ROUTES, parseBody, parsePath, readRequest } from '../../core/admin/request.ts';

/** The token the fuzzed requests are checked against; seeds that carry it reach past 401. */
export const TOKEN = 'fuzz-token';

/** One request per route, good and bad, as `fuzz` reads them. */
export const SEEDS: readonly string[] = [
  'GET /api/status\nBearer $TOKEN\n',
  'PUT /api/nodes/c/n0/state\nbearer $TOKEN\n{"state":"red"}',
  'PUT /api/nodes/c/n0/factor\nBearer $TOKEN\n{"factor":0.5}',
  'POST /api/clusters/c/nodes\nBearer $TOKEN\n{"id":"n1","address":"[::1]:80","loadFactor":2,"probe":{"tcp":"h.example:9","interval":"2s"}}',
  'PUT /api/listeners/front/cluster\nBearer $TOKEN\n{"cluster":"d"}',
  'DELETE /api/affinity/c/fe80::1%25eth0\nBearer $TOKEN\n',
  'DELETE /api/nodes/c/%E0%A4%A\nBearer $TOKEN\n',
  'PUT /api/nodes/c/n0/state\nBearer $TOKEN\n[[[[{"a":[null]}]]]]',
  'GET http://admin/metrics?x=1\nBasic x\n',
];

const NAMED = /^[A-Za-z][\w.]*: \S/;

/** Run `f`; throw when what it threw is not a 4xx naming the problem. */
function expectRefusalOrValue<T>(what: string, f: () => T): T | Refusal {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof Refusal)) {
      throw new Error(`${what}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)} (the server would answer 500)`, { cause: err });
    }
    if (err.status < 400 || err.status > 499) throw new Error(`${what}: status ${err.status} (${err.message})`);
    if (!NAMED.test(err.message)) throw new Error(`${what}: a refusal that names nothing: ${err.message.slice(0, 200)}`);
    if (err.message.length > 400) throw new Error(`${what}: a refusal of ${err.message.length} characters`);
    if (err.status === 405) {
      const allow = (err.headers.allow ?? '').split(', ').filter(Boolean);
      if (allow.length === 0) throw new Error(`${what}: 405 without Allow`);
    }
    return err;
  }
}

const isPlainObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Split `data` as `METHOD TARGET\nAUTHORIZATION\nBODY`. */
function asRequest(data: Buffer): { method: string; url: string; authorization: string; body: Buffer } {
  const first = data.indexOf(0x0a);
  const second = first < 0 ? -1 : data.indexOf(0x0a, first + 1);
  const line = data.subarray(0, first < 0 ? data.length : first).toString('latin1');
  const space = line.indexOf(' ');
  return {
    method: space < 0 ? line : line.slice(0, space),
    url: space < 0 ? '/' : line.slice(space + 1),
    authorization: first < 0 ? '' : data.subarray(first + 1, second < 0 ? data.length : second).toString('latin1'),
    body: second < 0 ? Buffer.alloc(0) : data.subarray(second + 1),
  };
}

/**
 * The fuzz target: throws only when the admin API's reading of `data` would end in a 5xx
 * or break one of the promises above.
 */
export function fuzz(data: Buffer): void {
  const req = asRequest(data);
  const read = expectRefusalOrValue('readRequest', () =>
    readRequest({ method: req.method, url: req.url, authorization: req.authorization.replace('$TOKEN', TOKEN) }, req.body, TOKEN),
  );
  if (!(read instanceof Refusal) && !isPlainObject(read.body)) throw new Error('readRequest: a body that is not an object');
  // Each parser alone, on all the bytes.
  const text = data.toString('latin1');
  expectRefusalOrValue('parsePath', () => parsePath(text));
  bearerToken(text);
  const body = expectRefusalOrValue('parseBody', () => parseBody(data));
  if (!(body instanceof Refusal) && !isPlainObject(body)) throw new Error('parseBody: not an object');
  for (const check of [checkName, checkAddress, checkClient, checkLoadFactor]) {
    expectRefusalOrValue(check.name, () => check('field', text));
    if (!(body instanceof Refusal)) for (const value of Object.values(body)) expectRefusalOrValue(check.name, () => check('field', value));
  }
}
