/** Plain-data views for testing algorithms and policies without a balancer. */
import type { ClientView, NodeView } from '../../core/index.ts';

export const testClient: ClientView = { address: '127.0.0.1', port: 1, listener: 'l' };

export function nodeView(id: string, loadFactor = 1, extra: Partial<NodeView> = {}): NodeView {
  return {
    id,
    loadFactor,
    activeConnections: 0,
    totalConnections: 0,
    connectionRate: 0,
    bytesRate: 0,
    recentFailures: 0,
    connectLatency: 0,
    state: 'green',
    metrics: {},
    ...extra,
  };
}
