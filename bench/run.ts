// `npm run bench`: Strata side by side with docker build (BuildKit) and buildah, on the same
// machine in the same run. Workloads × phases × tools, interleaved (the tool order rotates each
// run) and repeated; medians, ratios, targets. See bench/README.md.
//
//   node dist/bench/run.js [--runs N] [--quick] [--only steps20,bigctx] [--tools strata,buildkit]
//                          [--label TEXT] [--keep] [--no-readme]

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { BuildahTool } from './engines/buildah.js';
import { DockerTool } from './engines/docker.js';
import { Registry, registryAvailable } from './engines/registry.js';
import { cliOf, repoRoot, StrataTool, strataCli } from './engines/strata.js';
import type { Tool, ToolName } from './engines/types.js';
import {
  atCleanup,
  capture,
  errorLine,
  haveTime,
  removeTree,
  runCleanups,
  runCmd,
  stopSpawning,
} from './lib/proc.js';
import { markdown, median, type Phase, type Results, type Sample, table } from './report.js';
import { makeWorkloads, WORKLOADS, type Workload, type WorkloadName } from './workloads.js';

interface Options {
  runs: number;
  only: WorkloadName[];
  tools: ToolName[];
  label?: string;
  keep: boolean;
  readme: boolean;
  quick: boolean;
  /** A Strata checkout (dist built) measured as the `baseline` tool beside this one. */
  baseline?: string;
  /** Extra flags for Strata's timed builds (`--strata-build-args "--compression=zstd"`). */
  strataBuildArgs: string[];
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    runs: 5,
    only: [...WORKLOADS],
    tools: ['strata', 'buildkit', 'buildah'],
    keep: false,
    readme: true,
    strataBuildArgs: [],
    quick: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') {
      o.quick = true;
      o.runs = 1;
    } else if (a.startsWith('--runs')) o.runs = Math.max(1, Number.parseInt(value(), 10));
    else if (a.startsWith('--only')) {
      o.only = value().split(',') as WorkloadName[];
      for (const w of o.only)
        if (!WORKLOADS.includes(w)) throw new Error(`unknown workload ${w}; have ${WORKLOADS.join(', ')}`);
    } else if (a.startsWith('--tools')) o.tools = value().split(',') as ToolName[];
    else if (a.startsWith('--label')) o.label = value();
    else if (a.startsWith('--strata-build-args')) o.strataBuildArgs = value().split(/\s+/).filter(Boolean);
    else if (a.startsWith('--baseline')) o.baseline = value();
    else if (a === '--keep') o.keep = true;
    else if (a === '--no-readme') o.readme = false;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'usage: node dist/bench/run.js [--runs N (5)] [--quick (1 run)] [--only steps20,bigctx,seed] [--tools strata,buildkit,buildah] [--label TEXT] [--baseline CHECKOUT] [--strata-build-args FLAGS] [--keep] [--no-readme]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const say = (text: string) => process.stderr.write(`bench: ${text}\n`);

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** Rotates the tool order each run (A B C, B C A, …) so no tool always goes first. */
function order<T>(xs: T[], run: number): T[] {
  const k = run % Math.max(1, xs.length);
  return [...xs.slice(k), ...xs.slice(0, k)];
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  const work = await mkdtemp(join(tmpdir(), 'strata-bench-'));
  const log = join(work, 'bench.log');
  say(`work dir ${work} (log: ${log})`);
  if (!o.keep) atCleanup('work dir', () => removeTree(work));

  let interrupted = false;
  const onSignal = (sig: string) => {
    if (interrupted) return;
    interrupted = true;
    say(`${sig}: stopping what the bench started`);
    stopSpawning();
    runCleanups().finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const commit = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  const results: Results = {
    date: new Date().toISOString(),
    commit,
    dirty: git(['status', '--porcelain', '--', 'src', 'bench', 'package.json']) !== '',
    ...(o.label ? { label: o.label } : {}),
    runs: o.runs,
    machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release() },
    load: { start: loadavg(), end: [], median: 0, max: 0 },
    tools: {},
    workloads: {},
    startup: {},
    samples: [],
    sizes: {},
    notes: [
      "Sequential: one tool at a time, never two; each timed command is preceded by `sync` (untimed) so no tool pays for another's dirty pages. The page cache is warm for all (the context is read once when generated).",
      'Wall clock around the whole CLI call (`strata build …`, `docker build …`, `buildah bud …`), spawned the same way, each under `/usr/bin/time -f %M` for peak RSS. dockerd is started before any timing; its start-up is not counted, each `docker build` CLI call is. `strata` is native/build/Release/strata, the front program: it answers a no-op build from the build memo the last identical build left (~/.cache/strata/build-memo: nothing the build reads has changed), and otherwise execs `node dist/strata.cjs`, the bundled CLI run through its V8 code cache (~/.cache/strata), which the untimed runs warm.',
      "cold = empty build cache, base image present and unpacked: Strata a fresh `$STRATA_ROOT` and buildah a fresh `--root` with the base built there (untimed); docker: target image removed, `docker image prune -f`, `docker builder prune -af` (also drops the context-transfer cache). no-op = the same build again. edit = the last COPY'd file changed (new content every run, so no edit hits an earlier one). push = bigctx to an empty docker-registry on 127.0.0.1 (restarted empty before every push, untimed); every tool compresses during the timed push (Strata's remembered gzip forms are dropped before each one).",
      'Network: host for every tool (`docker build --network host`, `buildah bud --network host`; Strata RUN uses the host network by default).',
      "Compression: every tool keeps layers uncompressed at build and gzips them at push (Strata since 1b03f89; before, it gzipped at build, and a what-if row with `--compression gzip` shows that cost). Unfairness that remains: docker's work happens in a daemon that is already running (warm Go runtime), Strata starts a Node process per command but a no-op build (answered from the build memo) and an edit of the files a COPY-last Dockerfile's last COPY copies (the edit replay: the seed's edit). The seed's apt-get downloads from the Debian mirror, so seed cold times carry network noise.",
    ],
  };
  const loads: number[] = [];

  // Tools: each one that cannot run is reported and the others go on.
  const all: Tool[] = [
    new StrataTool('strata', undefined, o.strataBuildArgs),
    new DockerTool(),
    new BuildahTool(),
  ];
  if (o.baseline) all.splice(1, 0, new StrataTool('baseline', cliOf(o.baseline)));
  const tools: Tool[] = [];
  for (const t of all.filter((t) => o.tools.includes(t.name) || t.name === 'baseline')) {
    try {
      say(`setting up ${t.name}`);
      await t.setup(work, log);
      atCleanup(t.name, () => t.teardown());
      tools.push(t);
      results.tools[t.name] = { ok: true, describe: t.describe() };
    } catch (err) {
      say(`${t.name} unavailable: ${String(err)}`);
      results.tools[t.name] = { ok: false, describe: '', error: errorLine(String(err)) };
    }
  }
  if (!haveTime) results.notes.push('/usr/bin/time is missing: no RSS numbers (apt-get install time).');

  // CLI start-up.
  const startupCmds: Record<string, { file: string; args: string[] }> = {
    'strata --version': { file: strataCli.file, args: [...strataCli.args, '--version'] },
    ...(o.baseline
      ? {
          'baseline --version': {
            file: cliOf(o.baseline).file,
            args: [...cliOf(o.baseline).args, '--version'],
          },
        }
      : {}),
    'docker --version': {
      file: existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker',
      args: ['--version'],
    },
    'buildah --version': { file: 'buildah', args: ['--version'] },
  };
  for (const [name, cmd] of Object.entries(startupCmds)) {
    const samples: number[] = [];
    let error: string | undefined;
    await runCmd(cmd); // warm the page cache
    for (let i = 0; i < Math.max(10, o.runs * 2); i++) {
      const r = await runCmd(cmd);
      if (!r.ok) {
        error = errorLine(r.tail);
        break;
      }
      samples.push(r.ms);
    }
    const m = median(samples);
    results.startup[name] = {
      samples,
      ...(m === undefined ? {} : { medianMs: m }),
      ...(error ? { error } : {}),
    };
  }

  say(`generating workloads: ${o.only.join(', ')}`);
  const workloads = await makeWorkloads(work, o.only, log);
  for (const w of workloads) results.workloads[w.name] = w.summary;

  const broken = new Map<string, string>(); // `${tool}/${workload}` → why later phases are skipped
  const record = (s: Omit<Sample, 'load'>) => {
    const sample: Sample = { ...s, load: loadavg()[0] as number };
    results.samples.push(sample);
    say(
      `${s.workload} ${s.phase} ${s.tool} #${s.run + 1}: ${s.ok ? `${((s.ms ?? 0) / 1000).toFixed(2)} s${s.rssKb ? `, ${Math.round(s.rssKb / 1024)} MiB` : ''}` : `FAILED ${s.error ?? ''}`}`,
    );
  };

  const timedBuild = async (t: Tool, w: Workload, phase: Phase, run: number) => {
    const why = broken.get(`${t.name}/${w.name}`);
    if (why) return record({ workload: w.name, phase, tool: t.name, run, ok: false, error: why });
    await capture({ file: 'sync', args: [] });
    loads.push(loadavg()[0] as number);
    const r = await runCmd(t.build(w.name, w.contextDir, w.tag), {
      log: join(work, `${w.name}-${phase}-${t.name}.log`),
      measureRss: true,
      timeoutMs: 3_600_000,
    });
    record({
      workload: w.name,
      phase,
      tool: t.name,
      run,
      ok: r.ok,
      ms: r.ms,
      ...(r.rssKb === undefined ? {} : { rssKb: r.rssKb }),
      ...(r.ok ? {} : { error: errorLine(r.tail) }),
    });
    return r.ok;
  };

  const phaseRuns = (phase: Phase, w: Workload) =>
    o.quick && w.name === 'seed' && phase !== 'cold' ? 1 : o.runs;

  for (const w of workloads) {
    // cold
    for (let run = 0; run < phaseRuns('cold', w); run++) {
      for (const t of order(tools, run)) {
        broken.delete(`${t.name}/${w.name}`);
        try {
          await t.fresh(w.name, w.bases, log);
        } catch (err) {
          record({
            workload: w.name,
            phase: 'cold',
            tool: t.name,
            run,
            ok: false,
            error: `preparing the base: ${errorLine(String(err))}`,
          });
          broken.set(`${t.name}/${w.name}`, 'the cold build could not be prepared');
          continue;
        }
        if (!(await timedBuild(t, w, 'cold', run)))
          broken.set(`${t.name}/${w.name}`, 'the cold build failed');
      }
    }
    // no-op
    for (let run = 0; run < phaseRuns('noop', w); run++) {
      for (const t of order(tools, run)) await timedBuild(t, w, 'noop', run);
    }
    // edit
    for (let run = 0; run < phaseRuns('edit', w); run++) {
      await w.edit(run);
      for (const t of order(tools, run)) await timedBuild(t, w, 'edit', run);
    }
    for (const t of tools) {
      if (broken.has(`${t.name}/${w.name}`)) continue;
      results.sizes[w.name] = { ...(results.sizes[w.name] ?? {}), [t.name]: await t.size(w.name, w.tag) };
    }
    // push
    if (w.name === 'bigctx') {
      const registryVersion = await registryAvailable();
      if (!registryVersion) {
        results.notes.push(
          'push: docker-registry is not installed (apt-get install docker-registry); no push phase.',
        );
      } else {
        const registry = new Registry(join(work, 'registry'));
        for (let run = 0; run < o.runs; run++) {
          for (const t of order(tools, run)) {
            const base = { workload: w.name, phase: 'push' as const, tool: t.name, run };
            const support = await t.pushSupport();
            if (!support.ok) {
              if (run === 0) say(`*** ${support.reason} ***`);
              record({ ...base, ok: false, error: support.reason });
              continue;
            }
            if (broken.has(`${t.name}/${w.name}`)) {
              record({ ...base, ok: false, error: 'no image: the build failed' });
              continue;
            }
            try {
              await registry.start();
              const remote = `${registry.host}/bench/bigctx:${t.name}`;
              const cmd = await t.preparePush(w.name, w.tag, remote, log);
              await capture({ file: 'sync', args: [] });
              loads.push(loadavg()[0] as number);
              const r = await runCmd(cmd, {
                log: join(work, `push-${t.name}.log`),
                measureRss: true,
                timeoutMs: 1_800_000,
              });
              record({
                ...base,
                ok: r.ok,
                ms: r.ms,
                ...(r.rssKb ? { rssKb: r.rssKb } : {}),
                ...(r.ok ? {} : { error: errorLine(r.tail) }),
              });
              if (r.ok && run === 0) {
                const compressed = await registry.compressedSize(`bench/bigctx:${t.name}`);
                const sizes = results.sizes[w.name] ?? {};
                sizes[t.name] = {
                  ...(sizes[t.name] ?? {}),
                  ...(compressed === undefined ? {} : { compressed }),
                };
                results.sizes[w.name] = sizes;
              }
            } catch (err) {
              record({ ...base, ok: false, error: errorLine(String(err)) });
            } finally {
              await registry.stop();
            }
          }
        }
      }
    }
  }

  // Tools' descriptions can change during the run (buildah's isolation probe).
  for (const t of tools) {
    const entry = results.tools[t.name];
    if (entry) entry.describe = t.describe();
  }
  results.load.end = loadavg();
  results.load.median = median(loads) ?? 0;
  results.load.max = Math.max(0, ...loads);

  if (interrupted) return 130; // the signal handler cleans up and exits; no partial results

  // Write the results.
  const dir = join(repoRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const day = results.date.slice(0, 10);
  let stem = `${day}-${commit}${o.label ? `-${o.label.replace(/[^A-Za-z0-9._-]+/g, '-')}` : ''}${o.quick ? '-quick' : ''}`;
  for (let i = 2; existsSync(join(dir, `${stem}.json`)); i++) stem = stem.replace(/(-\d+)?$/, `-${i}`);
  const md = markdown(results);
  await writeFile(join(dir, `${stem}.md`), md);
  await writeFile(join(dir, `${stem}.json`), `${JSON.stringify(results, null, 2)}\n`);
  // A what-if (extra Strata flags) is kept beside the others but does not become `latest`.
  if (o.strataBuildArgs.length === 0) await writeFile(join(dir, 'latest.md'), md);
  const complete =
    !o.quick && o.only.length === WORKLOADS.length && o.tools.length === 3 && o.strataBuildArgs.length === 0;
  if (o.readme && complete) await updateReadme(results, stem);
  process.stdout.write(
    `\n${table(results)}\nwrote bench/results/${stem}.md and .json${o.strataBuildArgs.length === 0 ? ', bench/results/latest.md' : ''}\n`,
  );
  return 0;
}

/** Replaces README's Benchmarks block (between the bench markers) with this run's table. */
async function updateReadme(r: Results, stem: string): Promise<void> {
  const file = join(repoRoot, 'README.md');
  const text = await readFile(file, 'utf8');
  const begin = '<!-- bench:begin -->';
  const end = '<!-- bench:end -->';
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  const block = [
    begin,
    `Latest run: ${r.date.slice(0, 10)}, commit ${r.commit}, ${r.runs} runs, load average median ${r.load.median.toFixed(2)} on ${r.machine.cpus} cores (full report: [bench/results/${stem}.md](bench/results/${stem}.md)).`,
    '',
    table(r, { baseline: false }),
    end,
  ].join('\n');
  await writeFile(file, text.slice(0, a) + block + text.slice(b + end.length));
}

main()
  .catch((err: unknown) => {
    say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  })
  .then(async (code) => {
    await runCleanups();
    process.exitCode = code;
  });
