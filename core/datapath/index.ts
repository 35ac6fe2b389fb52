/**
 * Picks the data path once per process: the fast one when this Node's internal bindings
 * have the shape it needs, else the public `net` one. `dataPath: 'net'` in the config (or
 * PROTOBALANCE_DATAPATH=net) forces the public one; `'fast'` refuses to start without it.
 */
import { probeFastDataPath } from './fast.ts';
import { netDataPath } from './net.ts';
import type { DataPath } from './types.ts';

export type DataPathChoice = 'auto' | 'fast' | 'net';

let fast: DataPath | string | undefined;

export function chooseDataPath(choice: DataPathChoice = 'auto'): { path: DataPath; why?: string } {
  const forced = process.env.PROTOBALANCE_DATAPATH;
  const wanted = choice === 'auto' && (forced === 'net' || forced === 'fast') ? forced : choice;
  if (wanted === 'net') return { path: netDataPath };
  fast ??= probeFastDataPath();
  if (typeof fast !== 'string') return { path: fast };
  if (wanted === 'fast') throw new Error(`the fast data path cannot run on Node ${process.version}: ${fast}`);
  return { path: netDataPath, why: fast };
}

export type { AcceptHandler, DataPath, Endpoint, EndpointListener, ListenHandle } from './types.ts';
