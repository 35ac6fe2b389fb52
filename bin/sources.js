// Run from the TypeScript sources: registers tsx, then the hook that binds `protobalance`
// to this checkout (registered last, so it runs first). Imported for its effect, by the
// command and worker when the prebuilt bundle is stale, and by `npm test` (--import).
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./resolve-source.js', import.meta.url);
