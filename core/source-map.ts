/**
 * Just enough of source maps (v3) to turn a position in a bundled algorithm back into
 * `file:line:column` of the user's source, for error reports.
 */

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...BASE64].map((c, i) => [c, i]));

/** One segment per generated position: [genColumn, source, line, column] (0-based). */
type Segment = [number, number, number, number];

export interface SourceMap {
  sources: string[];
  lines: Segment[][];
}

function decodeVlq(text: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of text) {
    const digit = DIGIT.get(ch);
    if (digit === undefined) break;
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    out.push(value & 1 ? -(value >>> 1) : value >>> 1);
    value = 0;
    shift = 0;
  }
  return out;
}

export function parseSourceMap(json: string): SourceMap {
  const raw = JSON.parse(json) as { sources: string[]; mappings: string };
  let source = 0;
  let line = 0;
  let column = 0;
  const lines = raw.mappings.split(';').map((group) => {
    let genColumn = 0;
    const segments: Segment[] = [];
    for (const part of group.split(',')) {
      if (part === '') continue;
      const v = decodeVlq(part);
      genColumn += v[0]!;
      if (v.length < 4) continue;
      source += v[1]!;
      line += v[2]!;
      column += v[3]!;
      segments.push([genColumn, source, line, column]);
    }
    return segments;
  });
  return { sources: raw.sources, lines };
}

/** The original position of generated `line`/`column` (1-based line, 1-based column). */
export function originalPosition(
  map: SourceMap,
  line: number,
  column: number,
): { source: string; line: number; column: number } | undefined {
  const segments = map.lines[line - 1];
  if (!segments || segments.length === 0) return undefined;
  let best = segments[0]!;
  for (const s of segments) if (s[0] <= column - 1) best = s;
  return { source: map.sources[best[1]] ?? '?', line: best[2] + 1, column: best[3] + 1 };
}
