/**
 * PROXY protocol (haproxy's doc/proxy-protocol.txt, versions 1 and 2), both ways, built
 * only on the public plugin API:
 *
 * - From a balancer in front: a listener with `acceptProxyProtocol` (`true`: either version,
 *   told apart by the first byte; `'v1'`, `'v2'`: only that one) reads the header through
 *   the `preface` hook before anything else. The client address it names becomes
 *   `ctx.client` for everything after (accept taps and ACLs, affinity, client-hash, logs,
 *   status); the socket's own peer stays readable as `ctx.proxiedBy`. A header that is
 *   malformed is refused at once with the code `proxy-protocol` and the reader's reason;
 *   one that does not arrive within `proxyProtocolTimeout` (default 3 s), or that the
 *   client cuts short, is refused by the core (code `preface`). No node is dialled for
 *   either. A v2 LOCAL header, v1 UNKNOWN, and v2 families this balancer does not use
 *   (AF_UNIX, UNSPEC, datagrams) keep the socket's own addresses, as the spec says.
 * - Toward nodes: a cluster with `proxyProtocol: 'v1' | 'v2'` sends each node it connects
 *   (again after a fall-over) a header through the `nodePreamble` hook: source the client
 *   (the one a preface named, when one did), destination the address and port the client
 *   dialled on this balancer (`ctx.localAddress`, `ctx.localPort`).
 *
 * Nothing is tapped when no listener accepts and no cluster sends the protocol, so the
 * plugin costs nothing per connection then. Readers are made once per listener per
 * generation; per connection, reading costs one parse of the bytes received so far.
 */
import { definePlugin, type PrefaceReader, type PrefaceResult } from 'protobalance';
import { encodeProxyHeader } from './encode.ts';
import { DEFAULT_TIMEOUT_MS, FIELDS, type ProxyProtocolVersion } from './fields.ts';
import { DEFAULT_MAX_V2_BYTES, parseProxyHeader, V1_MAX_BYTES, type Accept } from './parse.ts';

export const NAME = 'proxy-protocol';
/** The refusal code of a malformed header (a slow or cut-short one is the core's `preface`). */
export const REFUSAL_CODE = 'proxy-protocol';

export { encodeProxyHeader } from './encode.ts';
export { parseProxyHeader, type Endpoint, type ParseResult } from './parse.ts';
export type { AcceptProxyProtocol, ProxyProtocolVersion } from './fields.ts';

const MORE: PrefaceResult = Object.freeze({ done: false });

/** The reader of one listener's clients; it keeps nothing per connection. */
export function proxyReader(accept: Accept, timeout: number, maxV2Bytes: number): PrefaceReader {
  const options = { accept, maxV2Bytes };
  return {
    timeout,
    // A slow or cut-short header counts with the malformed ones.
    code: REFUSAL_CODE,
    // The reader refuses by itself at these limits (with its reason); the core's bound is a backstop.
    maxBytes: accept === 'v1' ? V1_MAX_BYTES : Math.max(maxV2Bytes, V1_MAX_BYTES),
    parse(received: Buffer): PrefaceResult {
      const r = parseProxyHeader(received, options);
      if (r.state === 'more') return MORE;
      if (r.state === 'error') return { error: { code: REFUSAL_CODE, message: `PROXY protocol: ${r.reason}` } };
      return r.command === 'proxy' && r.source ? { done: true, consumed: r.consumed, client: r.source } : { done: true, consumed: r.consumed };
    },
  };
}

export default definePlugin({
  name: NAME,
  fields: FIELDS,
  apply(hooks, api) {
    const readers = new Map<string, PrefaceReader>();
    for (const l of api.config.listeners) {
      if (l.acceptProxyProtocol === undefined) continue;
      const accept: Accept = l.acceptProxyProtocol === true ? 'any' : l.acceptProxyProtocol;
      readers.set(l.name, proxyReader(accept, l.proxyProtocolTimeout ?? DEFAULT_TIMEOUT_MS, l.proxyProtocolMaxBytes ?? DEFAULT_MAX_V2_BYTES));
    }
    const versions = new Map<string, ProxyProtocolVersion>();
    for (const c of Object.values(api.config.clusters)) if (c.proxyProtocol !== undefined) versions.set(c.name, c.proxyProtocol);

    if (readers.size > 0) {
      // Before other taps: a preface tap of another plugin must not read the header as its own.
      hooks.preface.tap({ name: NAME, stage: -100 }, (ctx) => readers.get(ctx.client.listener));
    }
    if (versions.size > 0) {
      // By the node's own cluster: a node of a fall-over cluster speaks what its cluster says.
      hooks.nodePreamble.tap(NAME, (ctx, node) => {
        const version = versions.get(node.cluster);
        if (version === undefined) return undefined;
        return encodeProxyHeader(version, ctx.client, { address: ctx.localAddress, port: ctx.localPort });
      });
    }
    if (readers.size > 0 || versions.size > 0) {
      api.logger.debug({ accepting: [...readers.keys()], sending: Object.fromEntries(versions) }, 'PROXY protocol');
    }
  },
});
