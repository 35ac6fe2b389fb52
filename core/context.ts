/** What the hooks know about one client connection as it goes through the balancer. */
import type { BalancerNode, Cluster } from './cluster.ts';
import type { ClientView } from './types.ts';

export type ConnectionOutcome =
  /** Both sides closed normally (each end sent FIN). */
  | 'closed'
  /** One side reset or failed mid-stream; the other was reset too. */
  | 'reset'
  /** An `accept` tap refused the client. */
  | 'refused'
  /** No node could be chosen (none configured, or every candidate filtered out). */
  | 'no-node'
  /** Every node tried failed to connect. */
  | 'unavailable'
  /** Closed by the balancer: idle timeout, a Red node, or shutdown. */
  | 'killed';

export interface ConnectionContext {
  /** Process-unique, increasing. */
  readonly id: number;
  readonly client: ClientView;
  /** The port the client dialled (matters for port-range listeners). */
  readonly localPort: number;
  /** The cluster the listener routed to when the client arrived. */
  readonly cluster: Cluster;
  /** The node the connection is dialling or forwarded to. */
  node: BalancerNode | undefined;
  /** Nodes that failed to connect for this client, in order. */
  readonly failed: BalancerNode[];
  /** Epoch ms when the client was accepted. */
  readonly acceptedAt: number;
  /** Free space for plugins to keep per-connection data, keyed by plugin name. */
  readonly data: Record<string, unknown>;
}

export interface ConnectionTotals {
  /** Bytes received from the client (and sent on to the node). */
  readonly bytesFromClient: number;
  /** Bytes received from the node (and sent on to the client). */
  readonly bytesToClient: number;
  readonly durationMs: number;
  readonly outcome: ConnectionOutcome;
  /** Why it ended that way, when not a normal close. */
  readonly reason: string | undefined;
}
