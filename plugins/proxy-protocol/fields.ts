/**
 * The config fields of the PROXY protocol plugin, declared for the config check (`FIELDS`,
 * handed to the core as the plugin's `fields`) and for TypeScript (the augmentation below,
 * which gives users' configs and `api.config` their types).
 *
 * No field has a default in its spec: a default would show on every listener and cluster
 * of every resolved config, whether it speaks the PROXY protocol or not. The plugin applies
 * its defaults itself (`DEFAULT_TIMEOUT_MS`, `DEFAULT_MAX_V2_BYTES`).
 */
import type { Duration, FieldsSchema } from 'protobalance';
import { DEFAULT_MAX_V2_BYTES, V1_MAX_BYTES } from './parse.ts';

export type AcceptProxyProtocol = true | 'v1' | 'v2';
export type ProxyProtocolVersion = 'v1' | 'v2';

declare module 'protobalance' {
  interface ListenerFields {
    /** Read a PROXY protocol header (from a balancer in front) before anything else: `true` either version, or only `'v1'` / `'v2'`. */
    acceptProxyProtocol?: AcceptProxyProtocol | undefined;
    /** How long the header may take to arrive, from the accept (default `'3s'`). */
    proxyProtocolTimeout?: Duration | undefined;
    /** The largest v2 header taken, TLVs included (default 232, at least 232). */
    proxyProtocolMaxBytes?: number | undefined;
  }
  interface ResolvedListenerFields {
    /** In milliseconds. */
    proxyProtocolTimeout?: number | undefined;
  }
  interface ClusterFields {
    /** Send every node of this cluster a PROXY protocol header naming the client, before its first byte. */
    proxyProtocol?: ProxyProtocolVersion | undefined;
  }
}

export const DEFAULT_TIMEOUT_MS = 3000;
/** A v2 header's length field is 16 bits: no header is longer than this. */
export const MAX_V2_BYTES = 16 + 0xffff;

export const FIELDS = {
  listener: {
    acceptProxyProtocol: {
      type: 'any',
      describe: 'true, "v1" or "v2"',
      description: 'read a PROXY protocol header first: true (v1 or v2), "v1" or "v2"',
      check: (v: unknown) => (v === true || v === 'v1' || v === 'v2' ? undefined : 'expected true, "v1" or "v2"'),
    },
    proxyProtocolTimeout: { type: 'duration', min: 1, description: `how long the PROXY header may take (default ${DEFAULT_TIMEOUT_MS} ms)` },
    proxyProtocolMaxBytes: {
      type: 'integer',
      // Below 232 a valid header (two AF_UNIX addresses) would be refused; v1 needs 107.
      min: Math.max(DEFAULT_MAX_V2_BYTES, V1_MAX_BYTES),
      max: MAX_V2_BYTES,
      description: `the largest PROXY v2 header taken, TLVs included (default ${DEFAULT_MAX_V2_BYTES})`,
    },
  },
  cluster: {
    proxyProtocol: { type: 'string', enum: ['v1', 'v2'], description: 'send nodes a PROXY protocol header of this version' },
  },
} satisfies FieldsSchema;
