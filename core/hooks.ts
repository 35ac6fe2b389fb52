/**
 * The hook catalogue: every extension point of the balancer, in one place.
 *
 * ```
 *  listen ─► preface(ctx)           bail: a reader for what the client sends first (PROXY header)
 *          ─► accept(ctx)            bail: return a Refusal to refuse the client
 *          ─► resolveAffinity(ctx)   bail: return a node id the client is bound to
 *          ─► filterNodes(ns, ctx)   waterfall (value first): narrow candidates
 *          ─► selectNode(ctx, ns)    bail: the balancer's choice
 *          ─► claimNode(ctx, node)   bail: a Refusal skips that node (choose again)
 *             no node ─► waitForNode(ctx)   async bail: 'retry' | Refusal | undefined
 *          ─► dial ── fails before any byte passed ─► releaseNode, fallover(ctx, node, err)  bail: next node
 *          ─► connected(ctx, node)   affinity records, stats
 *          ─► nodePreamble(ctx, node) bail: bytes the node gets first
 *          ─► releaseNode(ctx, node) once per claimNode
 *          ─► closed(ctx, totals)
 *  lifecycle: init, listening, configChanged, nodeStateChanged, shutdown
 * ```
 *
 * Per-connection hooks are synchronous so the forwarding path pays no promise per
 * connection; `waitForNode` alone is asynchronous (the rare path: every node is full).
 * The core asks `isUsed()` before it does any work for an optional hook (preface,
 * claimNode, nodePreamble, waitForNode), so an untapped one costs nothing. Each config
 * generation gets its own catalogue (plugins are applied afresh on reload); a connection
 * keeps the catalogue of the generation it arrived in.
 * Plugins receive `PluginHooks`, a tap-only view: they can never call a hook.
 */
import { AsyncSeriesBailHook, AsyncSeriesHook, SyncBailHook, SyncHook, SyncWaterfallHook } from 'tapable';
import type { BalancerNode } from './cluster.ts';
import type { ConnectionContext, ConnectionTotals, PrefaceReader, Refusal } from './context.ts';
import type { NodeState, ResolvedConfig } from './types.ts';

export interface ListeningAddress {
  listener: string;
  host: string;
  port: number;
}

export function createHooks() {
  return Object.freeze({
    /**
     * When: a client was accepted, before anything else (even before it is read).
     * Kind: SyncBailHook. Args: the context. Return: a `PrefaceReader` to read what the
     * client sends first (a PROXY protocol header) before anything else happens; undefined
     * to read nothing. The client is then read only until the reader's `parse` is done:
     * the bytes it consumed are dropped, the rest reach the node before any other. A
     * preface that errs, is not done within `timeout` ms or `maxBytes`, or is cut short by
     * the client's end refuses the client (code 'preface'); no node is dialled.
     * Before: the listener accepted. After: accept (once the preface is done).
     */
    preface: new SyncBailHook<[ConnectionContext], PrefaceReader | undefined>(['ctx']),

    /**
     * When: a client was accepted (and its preface read, if any). Kind: SyncBailHook.
     * Args: the connection context. Return: a `Refusal` (a string, or `{ code, message }`)
     * to refuse the client, which is then closed, logged and counted under that code
     * (`'refused'` for a string); undefined to let it through.
     * Before: preface. After: resolveAffinity.
     */
    accept: new SyncBailHook<[ConnectionContext], Refusal | undefined>(['ctx']),

    /**
     * When: after accept, before candidates are narrowed. Kind: SyncBailHook.
     * Args: the context. Return: the id of the node this client is bound to; the core uses
     * it when it survives filterNodes, and skips selectNode. Undefined: no binding.
     * Before: accept. After: filterNodes.
     */
    resolveAffinity: new SyncBailHook<[ConnectionContext], string | undefined>(['ctx']),

    /**
     * When: once per choice, with the cluster's nodes (less those that already failed for
     * this client). Kind: SyncWaterfallHook, the node list first. Args: candidates, ctx.
     * Return: the narrowed list, passed to the next tap. State and availability filters,
     * connection limits live here, never inside algorithms.
     * Before: resolveAffinity. After: selectNode (or dial, when affinity matched).
     */
    filterNodes: new SyncWaterfallHook<[readonly BalancerNode[], ConnectionContext]>(['nodes', 'ctx']),

    /**
     * When: a node must be chosen among non-empty candidates. Kind: SyncBailHook.
     * Args: ctx, candidates. Return: a node to override the cluster's algorithm; undefined
     * to let the algorithm named by the cluster's `balance` choose.
     * Before: filterNodes. After: claimNode, then dial.
     */
    selectNode: new SyncBailHook<[ConnectionContext, readonly BalancerNode[]], BalancerNode | undefined>([
      'ctx',
      'nodes',
    ]),

    /**
     * When: right before every dial, for the node about to be dialled (chosen by the
     * algorithm, bound by affinity, or returned by fallover). Kind: SyncBailHook.
     * Args: ctx, the node. Return: a `Refusal` to skip that node: it is not dialled, not
     * offered to this client again in this choice, not marked unavailable nor counted as
     * failed, and the core chooses again among the rest; undefined to let the dial go.
     * Every call is matched by exactly one releaseNode. Before: selectNode, affinity or
     * fallover. After: dial (or releaseNode and a new choice, when refused).
     */
    claimNode: new SyncBailHook<[ConnectionContext, BalancerNode], Refusal | undefined>(['ctx', 'node']),

    /**
     * When: a node claimed for this connection is done with: right after claimNode refused
     * it, when its dial failed (before fallover), or when the connection closed (before
     * closed). Once per claimNode call. Kind: SyncHook. Args: ctx, the node.
     * Give back only what claimNode took (keep it in `ctx.data[your name]`).
     */
    releaseNode: new SyncHook<[ConnectionContext, BalancerNode]>(['ctx', 'node']),

    /**
     * When: a choice found no node to dial (no green candidate after filterNodes, or every
     * one refused by claimNode), before the client is turned away. Only called when
     * tapped. Kind: AsyncSeriesBailHook. Args: ctx. Return (may wait; the client's bytes
     * are held meanwhile): `'retry'` to choose afresh (nodes claimNode refused are offered
     * again), a `Refusal` to refuse the client with it, undefined to pass to the next tap
     * (after the last: the client is turned away, code 'no-node'). A client that closes
     * while waiting ends the connection; the answer is then ignored.
     * Before: claimNode / filterNodes. After: claimNode and dial (retry), or closed.
     */
    waitForNode: new AsyncSeriesBailHook<[ConnectionContext], 'retry' | Refusal | undefined>(['ctx']),

    /**
     * When: dialling a node failed before any byte passed (refused, reset, timeout).
     * Kind: SyncBailHook. Args: ctx, the failed node, the error. Return: the next node to
     * dial; undefined to let the core choose again among the remaining candidates
     * (filterNodes and selectNode run again without the failed nodes).
     * Before: dial, releaseNode. After: claimNode and dial of the returned node, or a new choice.
     */
    fallover: new SyncBailHook<[ConnectionContext, BalancerNode, Error], BalancerNode | undefined>([
      'ctx',
      'node',
      'error',
    ]),

    /**
     * When: the node accepted the TCP connection; bytes start to flow. Kind: SyncHook.
     * Args: ctx, the node. Before: dial. After: nodePreamble, then closed.
     */
    connected: new SyncHook<[ConnectionContext, BalancerNode]>(['ctx', 'node']),

    /**
     * When: after connected, before any client byte is forwarded to the node; again on
     * each node after a fall-over. Kind: SyncBailHook. Args: ctx, the node. Return: bytes
     * the node gets first (a PROXY protocol header); undefined for none. A tap that throws
     * closes the connection (a node never gets half a header).
     * Before: connected. After: bytes flow, then releaseNode and closed.
     */
    nodePreamble: new SyncBailHook<[ConnectionContext, BalancerNode], Uint8Array | undefined>(['ctx', 'node']),

    /**
     * When: the client connection is gone (for any outcome, also refused ones).
     * Kind: SyncHook. Args: ctx, totals (bytes each way, duration, outcome, reason).
     * Before: releaseNode, connected (or accept / dial when it never got that far). After: nothing.
     */
    closed: new SyncHook<[ConnectionContext, ConnectionTotals]>(['ctx', 'totals']),

    /**
     * When: a generation is built, after every plugin was applied and before it serves.
     * Kind: AsyncSeriesHook. Args: the resolved config. A rejection aborts the start
     * (or the reload, which keeps the previous generation).
     * Before: plugins' apply. After: listening (first start) or configChanged (reload).
     */
    init: new AsyncSeriesHook<[ResolvedConfig]>(['config']),

    /**
     * When: every listener accepts connections: at start, and again after a reload or
     * runtime change that opened or closed listeners (on the new generation's hooks).
     * Kind: SyncHook. Args: every bound address now. Before: init. After: connections arrive.
     */
    listening: new SyncHook<[readonly ListeningAddress[]]>(['addresses']),

    /**
     * When: a new generation replaced the old one. Kind: SyncHook.
     * Args: the new config, the previous one. Before: init of the new generation.
     */
    configChanged: new SyncHook<[ResolvedConfig, ResolvedConfig]>(['config', 'previous']),

    /**
     * When: a node's state colour changed (green / yellow / red). Kind: SyncHook.
     * Args: node, new state, previous state. After: for red, its connections are closed.
     */
    nodeStateChanged: new SyncHook<[BalancerNode, NodeState, NodeState]>(['node', 'state', 'previous']),

    /**
     * When: the balancer stops, after listeners closed and connections drained.
     * Kind: AsyncSeriesHook. Args: none. Plugins release what they hold here.
     */
    shutdown: new AsyncSeriesHook<[]>([]),
  });
}

export type Hooks = ReturnType<typeof createHooks>;

/** A hook with its `call*` methods removed. */
export type TapOnly<H> = Omit<H, 'call' | 'callAsync' | 'promise'>;

export type PluginHooks = { readonly [K in keyof Hooks]: TapOnly<Hooks[K]> };

export const ENFORCE_STAGE = { pre: -100, post: 100 } as const;

/** Told when a plugin's tap throws: the hook's name and the error. */
export type TapErrorHandler = (hook: string, err: unknown) => void;

/**
 * What a throwing `preface` tap hands the core: the client is refused (code 'preface'),
 * never read nor forwarded. The core knows it by identity.
 */
export const FAILED_PREFACE: PrefaceReader = Object.freeze({
  timeout: 0,
  maxBytes: 0,
  parse: () => ({ error: { code: 'preface', message: 'a plugin failed on this connection' } }),
});

/** What a throwing `nodePreamble` tap hands the core: the connection is closed (by identity). */
export const FAILED_PREAMBLE: Uint8Array = new Uint8Array(0);

/**
 * What a throwing tap counts as, per hook: the safe path. A refused client for `accept`
 * (a failing access check must not let everyone in) and `preface` (an unread header
 * must not reach a node as data), a refused node for `claimNode` (a limit that cannot be
 * checked is not granted), a closed connection for `nodePreamble` (never half a header),
 * the list unchanged for `filterNodes`, no answer for the other bail hooks (the core goes
 * on as if the tap had said nothing; a rejected `waitForNode` promise likewise). `init` is
 * not guarded: its failure fails the start or the reload.
 */
const SAFE_RESULT: Partial<Record<keyof Hooks, (args: unknown[]) => unknown>> = {
  accept: () => 'a plugin failed on this connection',
  preface: () => FAILED_PREFACE,
  claimNode: () => 'a plugin failed on this connection',
  nodePreamble: () => FAILED_PREAMBLE,
  filterNodes: (args) => args[0],
};
const UNGUARDED = new Set<string>(['init']);

function guarded(hook: string, fn: unknown, onError: TapErrorHandler | undefined, kind: 'sync' | 'async' | 'promise'): unknown {
  if (!onError || UNGUARDED.has(hook) || typeof fn !== 'function') return fn;
  const safe = SAFE_RESULT[hook as keyof Hooks];
  const f = fn as (...args: unknown[]) => unknown;
  if (kind === 'promise') {
    return (...args: unknown[]) => {
      try {
        return Promise.resolve(f(...args)).catch((err: unknown) => onError(hook, err));
      } catch (err) {
        onError(hook, err);
        return Promise.resolve();
      }
    };
  }
  if (kind === 'async') {
    return (...args: unknown[]) => {
      const done = args[args.length - 1] as (err?: unknown, ...result: unknown[]) => void;
      try {
        // A bail hook's answer (waitForNode) passes through; an error is no answer.
        f(...args.slice(0, -1), (err?: unknown, ...result: unknown[]) => {
          if (err) {
            onError(hook, err);
            return done();
          }
          done(null, ...result);
        });
      } catch (err) {
        onError(hook, err);
        done();
      }
    };
  }
  return (...args: unknown[]) => {
    try {
      return f(...args);
    } catch (err) {
      onError(hook, err);
      return safe?.(args);
    }
  };
}

/**
 * The view of `hooks` handed to one plugin: tapping only, with the plugin's `enforce`
 * mapped onto tapable's `stage` (an explicit stage in a tap wins), and, given `onError`,
 * every tap guarded so that a throw takes the hook's safe path instead of reaching the
 * connection or the process.
 */
export function tapOnlyView(hooks: Hooks, enforce?: 'pre' | 'post', onError?: TapErrorHandler): PluginHooks {
  const stage = enforce ? ENFORCE_STAGE[enforce] : 0;
  const view: Record<string, unknown> = {};
  for (const [key, hook] of Object.entries(hooks)) {
    const h = hook as unknown as Record<string, (...args: unknown[]) => void>;
    const withStage = (options: unknown) =>
      typeof options === 'string' ? { name: options, stage } : { stage, ...(options as object) };
    view[key] = Object.freeze({
      tap: (options: unknown, fn: unknown) => h.tap!.call(hook, withStage(options), guarded(key, fn, onError, 'sync')),
      tapAsync: (options: unknown, fn: unknown) => h.tapAsync?.call(hook, withStage(options), guarded(key, fn, onError, 'async')),
      tapPromise: (options: unknown, fn: unknown) => h.tapPromise?.call(hook, withStage(options), guarded(key, fn, onError, 'promise')),
      intercept: (interceptor: unknown) => h.intercept!.call(hook, interceptor),
      isUsed: () => (hook as { isUsed(): boolean }).isUsed(),
      name: (hook as { name?: string }).name,
    });
  }
  return Object.freeze(view) as unknown as PluginHooks;
}
