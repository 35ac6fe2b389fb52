/**
 * The admin API's reading of a request, as pure functions: the path and its route (404,
 * 405 with the methods the path takes), the bearer token (the scheme in any case, RFC
 * 7235), the body (413 over 64 KiB; 400 when not UTF-8, nested more than 32 deep, not JSON
 * or not an object) and every field within its bounds (core/admin/bounds.ts). Whatever the
 * input, each either returns or throws a `Refusal` with a 4xx status and a message that
 * names the path, the body or the field: anything else escaping is a bug (the property
 * tests and bench/fuzz/admin-request.ts hold them to that).
 */
import type { NodeState } from '../types.ts';
import { checkClient, checkLoadFactor, checkName, checkNodeBounds, Refusal, shown } from './bounds.ts';
import { tokenMatches } from './token.ts';

export const LIMITS = {
  /** Largest body, in bytes. */
  body: 64 * 1024,
  /** Deepest nesting of arrays and objects in a body. */
  depth: 32,
  /** Longest request target (path and query), in characters. */
  path: 2048,
} as const;

export type RouteName =
  | 'page' | 'metrics' | 'status' | 'changes' | 'dropChanges' | 'reload' | 'setState' | 'setFactor'
  | 'removeNode' | 'addNode' | 'setRoute' | 'affinity' | 'forgetAffinity';

/** The path's parameters, each checked: names for cluster, node and listener, an IP for client. */
export interface Params {
  cluster?: string;
  node?: string;
  listener?: string;
  client?: string;
}

interface Route {
  /** Literal segments, and `:param` for a parameter. */
  pattern: readonly string[];
  methods: Readonly<Record<string, RouteName>>;
}

/** Every endpoint (core/admin/server.ts says what each does). */
export const ROUTES: readonly Route[] = [
  { pattern: [], methods: { GET: 'page' } },
  { pattern: ['dashboard'], methods: { GET: 'page' } },
  { pattern: ['metrics'], methods: { GET: 'metrics' } },
  { pattern: ['api', 'status'], methods: { GET: 'status' } },
  { pattern: ['api', 'changes'], methods: { GET: 'changes', DELETE: 'dropChanges' } },
  { pattern: ['api', 'reload'], methods: { POST: 'reload' } },
  { pattern: ['api', 'nodes', ':cluster', ':node', 'state'], methods: { PUT: 'setState' } },
  { pattern: ['api', 'nodes', ':cluster', ':node', 'factor'], methods: { PUT: 'setFactor' } },
  { pattern: ['api', 'nodes', ':cluster', ':node'], methods: { DELETE: 'removeNode' } },
  { pattern: ['api', 'clusters', ':cluster', 'nodes'], methods: { POST: 'addNode' } },
  { pattern: ['api', 'listeners', ':listener', 'cluster'], methods: { PUT: 'setRoute' } },
  { pattern: ['api', 'affinity', ':cluster', ':client'], methods: { GET: 'affinity', DELETE: 'forgetAffinity' } },
];

/** The routes that read a JSON body. */
export const BODY_ROUTES: ReadonlySet<RouteName> = new Set(['setState', 'setFactor', 'addNode', 'setRoute']);

export const STATES: readonly NodeState[] = ['green', 'yellow', 'red'];

/**
 * The request target's path as decoded segments (empty ones dropped, the query ignored).
 * Takes the origin form (`/api/status`) and the absolute form (`http://host/api/status`).
 */
export function parsePath(target: string | undefined): string[] {
  const text = target ?? '/';
  if (text.length > LIMITS.path) throw new Refusal(414, `path: longer than ${LIMITS.path} characters`);
  let path = text.split(/[?#]/, 1)[0]!;
  if (!path.startsWith('/')) {
    const absolute = /^https?:\/\/[^/]*(\/.*)?$/i.exec(path);
    if (!absolute) throw new Refusal(400, `path: expected an absolute path, got ${shown(path)}`);
    path = absolute[1] ?? '/';
  }
  return path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new Refusal(400, `path: bad %-encoding in ${shown(s)}`);
      }
    });
}

/** A segment %-encoded again; one that cannot be (a lone surrogate) as it is. */
function encoded(segment: string): string {
  try {
    return encodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The path's shown form, for messages: its segments re-encoded, cut short. */
const pathText = (segments: readonly string[]) => shown(`/${segments.map(encoded).join('/')}`);

/** The route of a path and method; 404 for no such path, 405 (with `allow`) for a method it does not take. */
export function matchRoute(segments: readonly string[], method: string): { name: RouteName; params: Record<string, string> } {
  for (const route of ROUTES) {
    if (route.pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = route.pattern.every((p, i) => {
      if (!p.startsWith(':')) return p === segments[i];
      params[p.slice(1)] = segments[i]!;
      return true;
    });
    if (!fits) continue;
    // Own keys only: a method named "constructor" is no route.
    const name = Object.hasOwn(route.methods, method) ? route.methods[method] : undefined;
    const allow = Object.keys(route.methods);
    if (name === undefined) throw new Refusal(405, `method: ${pathText(segments)} takes ${allow.join(', ')}, not ${shown(method)}`, { allow: allow.join(', ') });
    return { name, params };
  }
  throw new Refusal(404, `path: no such endpoint: ${pathText(segments)}`);
}

/** Each parameter within its bounds (400 naming it). */
export function checkParams(raw: Readonly<Record<string, string>>): Params {
  const out: Params = {};
  if (raw.cluster !== undefined) out.cluster = checkName('cluster', raw.cluster);
  if (raw.node !== undefined) out.node = checkName('node', raw.node);
  if (raw.listener !== undefined) out.listener = checkName('listener', raw.listener);
  if (raw.client !== undefined) out.client = checkClient('client', raw.client);
  return out;
}

/** The token of an `Authorization: Bearer <token>` header; the scheme in any case. */
export function bearerToken(header: string | readonly string[] | undefined): string | undefined {
  const text = typeof header === 'string' ? header : undefined;
  const m = text === undefined ? null : /^[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]+(\S+)[ \t]*$/.exec(text);
  return m && m[1]!.toLowerCase() === 'bearer' ? m[2] : undefined;
}

/** True when arrays and objects in `text` (JSON) nest deeper than `max`; strings are skipped. */
export function nestsDeeper(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A body: nothing (or blanks) is `{}`; else a JSON object within the limits. */
export function parseBody(raw: Uint8Array): Record<string, unknown> {
  if (raw.length > LIMITS.body) throw new Refusal(413, `body: larger than ${LIMITS.body} bytes`);
  let text: string;
  try {
    text = utf8.decode(raw).trim();
  } catch {
    throw new Refusal(400, 'body: not UTF-8 text');
  }
  if (text === '') return {};
  if (nestsDeeper(text, LIMITS.depth)) throw new Refusal(400, `body: nested too deeply (more than ${LIMITS.depth} levels)`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw new Refusal(400, 'body: nested too deeply');
    throw new Refusal(400, `body: not JSON (${String((err as Error).message).slice(0, 80)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Refusal(400, `body: expected a JSON object, got ${shown(value)}`);
  }
  return value as Record<string, unknown>;
}

/** The fields a route's body needs, each within its bounds. */
export function checkBody(route: RouteName, body: Record<string, unknown>): void {
  if (route === 'setState') {
    if (typeof body.state !== 'string' || !STATES.includes(body.state as NodeState)) {
      throw new Refusal(400, `state: expected one of ${STATES.join(', ')}, got ${shown(body.state)}`);
    }
  } else if (route === 'setFactor') checkLoadFactor('factor', body.factor);
  else if (route === 'addNode') checkNodeBounds(body);
  else if (route === 'setRoute') checkName('cluster', body.cluster);
}

/** A request as the admin server acts on it. */
export interface AdminRequest {
  route: RouteName;
  params: Params;
  /** The checked body of a route that reads one; `{}` for the others. */
  body: Record<string, unknown>;
}

/** A request's head: the method, the target and the authorization header. */
export interface RequestHead {
  method: string | undefined;
  url: string | undefined;
  authorization: string | readonly string[] | undefined;
}

const UNAUTHORIZED =
  'authorization: expected "Bearer <token>" with the admin token (admin.token in the config, PB_ADMIN_TOKEN, or <stateDir>/admin-token)';

/**
 * The head's reading, in the order the server answers: the path (400, 414), the page
 * (served without a token), the token (401), the route (404, 405), its parameters (400).
 */
export function readHead(head: RequestHead, token: string): { route: RouteName; params: Params } {
  const method = head.method ?? 'GET';
  const segments = parsePath(head.url);
  const page = segments.length === 0 || (segments.length === 1 && segments[0] === 'dashboard');
  if (page && method === 'GET') return { route: 'page', params: {} };
  if (!tokenMatches(bearerToken(head.authorization), token)) {
    throw new Refusal(401, UNAUTHORIZED, { 'www-authenticate': 'Bearer realm="protobalance"' });
  }
  const { name, params } = matchRoute(segments, method);
  return { route: name, params: checkParams(params) };
}

/** A route's body: parsed (413, 400) and its fields checked (400); `{}` for a route that reads none. */
export function readBody(route: RouteName, raw: Uint8Array): Record<string, unknown> {
  if (!BODY_ROUTES.has(route)) return {};
  const body = parseBody(raw);
  checkBody(route, body);
  return body;
}

/** The whole reading of a request whose body is at hand (the tests' and the fuzz target's way in). */
export function readRequest(head: RequestHead, body: Uint8Array, token: string): AdminRequest {
  const { route, params } = readHead(head, token);
  return { route, params, body: readBody(route, body) };
}
