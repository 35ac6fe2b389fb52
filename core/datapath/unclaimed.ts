/** The listener of an endpoint nobody owns yet (a client just accepted): it hears nothing. */
import type { EndpointListener } from './types.ts';

export const unclaimed: EndpointListener = {
  onConnect() {},
  onFirstData() {},
  onData() {},
  onEnd: () => true,
  onError() {},
  onClose() {},
};
