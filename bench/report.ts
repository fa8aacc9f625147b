// Medians, ratios and targets, as a Markdown table and JSON.

import type { ImageSize, ToolName } from './engines/types.js';

export type Phase = 'cold' | 'noop' | 'edit' | 'push';
export const PHASES: Phase[] = ['cold', 'noop', 'edit', 'push'];
export const TOOLS: ToolName[] = ['strata', 'buildkit', 'buildah'];
const ALL_TOOLS: ToolName[] = [...TOOLS, 'baseline'];

export interface Sample {
  workload: string;
  phase: Phase;
  tool: ToolName;
  run: number;
  ok: boolean;
  ms?: number;
  rssKb?: number;
  error?: string;
  /** 1-minute load average when the sample started. */
  load: number;
}

export interface Results {
  date: string;
  commit: string;
  dirty: boolean;
  label?: string;
  runs: number;
  machine: { cpus: number; memGiB: number; kernel: string };
  load: { start: number[]; end: number[]; median: number; max: number };
  tools: Record<string, { ok: boolean; describe: string; error?: string }>;
  workloads: Record<string, string>;
  startup: Record<string, { medianMs?: number; samples: number[]; error?: string }>;
  samples: Sample[];
  sizes: Record<string, Partial<Record<ToolName, ImageSize>>>;
  notes: string[];
}

/** Ratio Strata / BuildKit targets (same run). */
export const TARGETS: { workload: string; phase: Phase; max: number }[] = [
  { workload: 'steps20', phase: 'cold', max: 0.5 },
  { workload: 'steps20', phase: 'noop', max: 0.75 },
  { workload: 'bigctx', phase: 'noop', max: 0.75 },
  { workload: 'seed', phase: 'noop', max: 0.75 },
  { workload: 'steps20', phase: 'edit', max: 0.75 },
  { workload: 'seed', phase: 'edit', max: 0.75 },
  { workload: 'bigctx', phase: 'edit', max: 0.5 },
  { workload: 'bigctx', phase: 'cold', max: 1.0 },
  { workload: 'bigctx', phase: 'push', max: 0.5 },
  { workload: 'seed', phase: 'cold', max: 0.9 },
];
export const RSS_TARGET_KB = 250 * 1024;

export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export interface Cell {
  median?: number;
  n: number;
  failed: number;
  error?: string;
  min?: number;
  max?: number;
}

export function cell(samples: Sample[], workload: string, phase: Phase, tool: ToolName): Cell {
  const mine = samples.filter((s) => s.workload === workload && s.phase === phase && s.tool === tool);
  const ok = mine.filter((s) => s.ok && s.ms !== undefined).map((s) => s.ms as number);
  const failed = mine.filter((s) => !s.ok);
  const m = median(ok);
  return {
    n: mine.length,
    failed: failed.length,
    ...(m === undefined ? {} : { median: m, min: Math.min(...ok), max: Math.max(...ok) }),
    ...(failed[0]?.error ? { error: failed[0].error } : {}),
  };
}

const sec = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(ms < 10_000 ? 2 : 1));
const mb = (bytes: number | undefined) => (bytes === undefined ? '—' : `${(bytes / 1e6).toFixed(1)} MB`);

function show(c: Cell): string {
  if (c.n === 0) return '—';
  if (c.median === undefined) return `failed${c.error ? `: ${c.error}` : ''}`;
  const spread = c.n > 1 && c.min !== undefined ? ` (${sec(c.min)}–${sec(c.max)})` : '';
  return `${sec(c.median)}${spread}${c.failed ? ` (${c.failed} failed)` : ''}`;
}

function ratio(a: Cell, b: Cell): number | undefined {
  return a.median !== undefined && b.median !== undefined && b.median > 0 ? a.median / b.median : undefined;
}

export function peakRss(r: Results, workload: string, tool: ToolName = 'strata'): number | undefined {
  const xs = r.samples
    .filter((s) => s.tool === tool && s.workload === workload && s.rssKb !== undefined)
    .map((s) => s.rssKb as number);
  return xs.length ? Math.max(...xs) : undefined;
}

export function table(r: Results, options: { baseline?: boolean } = {}): string {
  const workloads = Object.keys(r.workloads);
  const withBaseline = options.baseline !== false && r.samples.some((s) => s.tool === 'baseline');
  const rows: string[] = [
    `| workload | phase | strata | buildkit | buildah | strata / buildkit | target | | strata / buildah |${withBaseline ? ' strata before (baseline) | strata / before |' : ''}`,
    `|---|---|---|---|---|---|---|---|---|${withBaseline ? '---|---|' : ''}`,
  ];
  for (const w of workloads) {
    for (const p of PHASES) {
      const cells = Object.fromEntries(ALL_TOOLS.map((t) => [t, cell(r.samples, w, p, t)])) as Record<
        ToolName,
        Cell
      >;
      if (ALL_TOOLS.every((t) => cells[t].n === 0)) continue;
      const rk = ratio(cells.strata, cells.buildkit);
      const rb = ratio(cells.strata, cells.buildah);
      const target = TARGETS.find((t) => t.workload === w && t.phase === p);
      // A pass by medians that fails against BuildKit's fastest run says so: its times can be
      // bimodal (bigctx edit: 1.1-1.4 s in some runs, 2.2-2.5 s in others).
      const vsFastest =
        cells.strata.median !== undefined && cells.buildkit.min !== undefined && cells.buildkit.min > 0
          ? cells.strata.median / cells.buildkit.min
          : undefined;
      const verdict =
        target === undefined
          ? ''
          : rk === undefined
            ? 'no data'
            : rk > target.max
              ? '**FAIL**'
              : vsFastest !== undefined && vsFastest > target.max
                ? `pass by medians; ${vsFastest.toFixed(2)} against BuildKit's fastest run`
                : 'pass';
      rows.push(
        `| ${w} | ${p === 'noop' ? 'no-op' : p} | ${show(cells.strata)} | ${show(cells.buildkit)} | ${show(cells.buildah)} | ${rk === undefined ? '—' : rk.toFixed(2)} | ${target ? `≤ ${target.max.toFixed(2)}` : ''} | ${verdict} | ${rb === undefined ? '—' : rb.toFixed(2)} |${withBaseline ? ` ${show(cells.baseline)} | ${ratio(cells.strata, cells.baseline)?.toFixed(2) ?? '—'} |` : ''}`,
      );
    }
  }
  const lines = [rows.join('\n'), ''];
  const rss = peakRss(r, 'bigctx');
  const rssAll = Object.keys(r.workloads)
    .map(
      (w) =>
        `${w} ${peakRss(r, w) === undefined ? '—' : `${Math.round((peakRss(r, w) as number) / 1024)} MiB`}`,
    )
    .join(', ');
  lines.push(
    `Peak RSS of the Strata process tree (largest process, /usr/bin/time %M): ${rssAll}${
      withBaseline
        ? ` (before: ${Object.keys(r.workloads)
            .map((w) => `${w} ${Math.round((peakRss(r, w, 'baseline') ?? 0) / 1024)} MiB`)
            .join(', ')})`
        : ''
    }. Target on bigctx < 250 MiB: ${rss === undefined ? 'no data' : rss < RSS_TARGET_KB ? 'pass' : '**FAIL**'}.`,
    '',
  );
  const st = Object.entries(r.startup)
    .filter(([k]) => withBaseline || !k.startsWith('baseline'))
    .map(
      ([k, v]) =>
        `${k} ${v.medianMs === undefined ? `failed${v.error ? ` (${v.error})` : ''}` : `${Math.round(v.medianMs)} ms`}`,
    )
    .join(', ');
  lines.push(
    `CLI start-up (median of ${Math.max(0, ...Object.values(r.startup).map((v) => v.samples.length))}, \`--version\`): ${st}.`,
    '',
  );
  const sizeRows = ['| image | strata | buildkit | buildah |', '|---|---|---|---|'];
  for (const [w, bySize] of Object.entries(r.sizes)) {
    const fmt = (s: ImageSize | undefined) =>
      s === undefined
        ? '—'
        : `${mb(s.uncompressed)}${s.compressed === undefined ? '' : ` / ${mb(s.compressed)}`}`;
    sizeRows.push(`| ${w} | ${fmt(bySize.strata)} | ${fmt(bySize.buildkit)} | ${fmt(bySize.buildah)} |`);
  }
  lines.push(
    'Image size: uncompressed / the layers as stored or pushed (gzip unless the run says otherwise; docker and buildah: as pushed, bigctx only; buildah rounds):',
    '',
    sizeRows.join('\n'),
    '',
  );
  return lines.join('\n');
}

export function markdown(r: Results): string {
  const lines = [
    `# Strata benchmarks: ${r.date}, ${r.commit}${r.dirty ? ' (uncommitted changes)' : ''}${r.label ? `, ${r.label}` : ''}`,
    '',
    `Machine: ${r.machine.cpus} cores, ${r.machine.memGiB} GiB, Linux ${r.machine.kernel}. ` +
      `Load average (1 min): ${r.load.start.map((x) => x.toFixed(2)).join('/')} at the start, ` +
      `median ${r.load.median.toFixed(2)} and max ${r.load.max.toFixed(2)} while measuring, ` +
      `${r.load.end.map((x) => x.toFixed(2)).join('/')} at the end (the machine is shared with other developers).`,
    '',
    `Wall-clock seconds around the whole CLI command: median of ${r.runs} interleaved run(s) per cell (min–max).`,
    'Ratios are medians of the same run; targets are Strata / BuildKit.',
    '',
    table(r),
    '## Tools',
    '',
    ...Object.entries(r.tools).map(([k, v]) => `- **${k}**: ${v.ok ? v.describe : `not run: ${v.error}`}`),
    '',
    '## Workloads',
    '',
    ...Object.entries(r.workloads).map(([k, v]) => `- **${k}**: ${v}`),
    '',
    '## How it is measured',
    '',
    ...r.notes.map((n) => `- ${n}`),
    '',
  ];
  const failures = r.samples.filter((s) => !s.ok);
  if (failures.length > 0) {
    lines.push('## Failures', '');
    for (const f of failures)
      lines.push(`- ${f.workload} ${f.phase} ${f.tool} run ${f.run}: ${f.error ?? 'failed'}`);
    lines.push('');
  }
  return lines.join('\n');
}
