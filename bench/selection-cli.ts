/**
 * Pick cost per built-in algorithm at a few candidate counts, in-process and sandboxed:
 * `node --import ./bin/sources.js bench/selection-cli.ts` (env COUNTS=4,100,5000,
 * ONLY=round-robin,random, PICKS, BUDGET ms). A row that fails says why instead of a figure.
 */
import { builtinAlgorithms, selectionCost } from './selection.ts';

const counts = (process.env.COUNTS ?? '4,100,5000').split(',').map(Number);
const only = process.env.ONLY?.split(',');
const { found } = await builtinAlgorithms();
for (const a of found) {
  if (only && !only.includes(a.name)) continue;
  for (const count of counts) {
    try {
      const [r] = await selectionCost(a, [count], Number(process.env.PICKS ?? 20000), Number(process.env.BUDGET ?? 1500));
      const f = (t: { microsPerPick: number }) => t.microsPerPick.toFixed(2).padStart(10);
      console.log(`${a.name.padEnd(16)} ${String(count).padStart(5)}  in-process ${f(r!.inProcess)} µs  sandboxed ${f(r!.sandboxed)} µs (${r!.sandboxed.picks} picks)`);
    } catch (err) {
      console.log(`${a.name.padEnd(16)} ${String(count).padStart(5)}  failed: ${(err as Error).message}`);
    }
  }
}
process.exit(0);
