/** The results table (markdown), the machine it ran on, and bench/RESULTS.md. */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';

export interface Row {
  figure: string;
  direct: number | undefined;
  balancer: number | undefined;
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

export function table(rows: readonly Row[]): string {
  const lines = ['| figure | direct | balancer | ratio (balancer/direct) |', '|---|---:|---:|---:|'];
  for (const r of rows) {
    const ratio = r.direct !== undefined && r.balancer !== undefined && r.direct !== 0 ? r.balancer / r.direct : undefined;
    lines.push(`| ${r.figure} | ${fmt(r.direct)} | ${fmt(r.balancer)} | ${fmt(ratio)} |`);
  }
  return lines.join('\n');
}

export function machine(): string {
  let cpu = 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  return `${availableParallelism()} CPUs (nproc), ${cpu}`;
}

export async function writeResults(file: URL, tableText: string, notes: readonly string[]): Promise<void> {
  const text = [
    '# Proto Balance benchmark results',
    '',
    'Written by `npm run bench` (bench/run.ts); every run replaces this file.',
    '',
    `- date: ${new Date().toISOString()}`,
    `- node: ${process.version}`,
    `- machine: ${machine()}`,
    ...notes.map((n) => `- ${n}`),
    '',
    tableText,
    '',
  ].join('\n');
  await writeFile(file, text);
}
