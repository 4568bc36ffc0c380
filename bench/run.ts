/**
 * `npm run bench` — the collector's benchmark. Starts Kafka and DynamoDB Local on
 * 127.0.0.1 (startServices), runs each section with a bounded count and time,
 * writes bench/results/<timestamp>-<mode>.json, SVG charts and RESULTS.md.
 *
 *   npm run bench                 full run (< 15 min on 2 cores) → bench/RESULTS.md, bench/results/*.svg
 *   npm run bench -- --quick      CI smoke run (< 2 min) → bench/results/quick/
 *   npm run bench -- --only throughput,latency   selected sections (written like --quick)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Services, startServices } from '#local/services/index.ts';
import { coldStart } from './cold-start.ts';
import { latency } from './latency.ts';
import { log } from './lib.ts';
import { pricing } from './pricing.ts';
import { type RunResults, resultsMarkdown, writeCharts } from './report.ts';
import { scaleSectionOf, sectionOf, withScaleSection, withSection } from './scale-trace.ts';
import { copiesPerGroup, throughput } from './throughput.ts';
import { punctuality } from './timeouts.ts';
import { writeCost } from './write-cost.ts';

const here = dirname(fileURLToPath(import.meta.url));

// The functions emit their CloudWatch metrics as EMF lines on stdout, as on Lambda: they are produced
// (their cost is part of what is measured) but not shown.
const writeStdout = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
  typeof chunk === 'string' && chunk.startsWith('{"_aws"')
    ? true
    : writeStdout(chunk, ...rest)) as typeof process.stdout.write;
const SECTIONS = ['cold-start', 'throughput', 'write-cost', 'latency', 'timeouts', 'pricing'] as const;
type Section = (typeof SECTIONS)[number];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.find((a, i) => a.startsWith('--only') && (a.includes('=') || args[i + 1]));
const only = onlyArg
  ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : args[args.indexOf(onlyArg) + 1])?.split(',')
  : undefined;
const selected = (s: Section) => !only || only.includes(s);

const PLAN = quick
  ? {
      hardLimitMs: 8 * 60_000,
      coldRuns: 3,
      copiesGroups: 20,
      throughput: {
        sizes: [
          { groupSize: 3, groups: 60 },
          { groupSize: 100, groups: 2 },
          { groupSize: 1000, groups: 1 },
        ],
        rawCalls: 500,
        resultBytes: 100,
      },
      writeCost: { sizes: [3, 100, 1000], resultBytes: [100, 1000], probeLimit: false },
      latency: { samples: 30, warmup: 5, groupSize: 3 },
      timeouts: { groups: 50, spreadMs: 8_000, gapMs: 5_000, marginMs: 4_000, maxMarginMs: 30_000 },
    }
  : {
      // The target is < 15 min; the limit leaves room to finish and write the results on a loaded machine.
      hardLimitMs: 30 * 60_000,
      coldRuns: 15,
      copiesGroups: 60,
      throughput: {
        sizes: [
          { groupSize: 3, groups: 600 },
          { groupSize: 100, groups: 20 },
          { groupSize: 1000, groups: 2 },
        ],
        rawCalls: 2000,
        resultBytes: 100,
      },
      writeCost: { sizes: [3, 30, 100, 300, 1000], resultBytes: [100, 1000], probeLimit: true },
      latency: { samples: 300, warmup: 10, groupSize: 3 },
      timeouts: { groups: 1000, spreadMs: 60_000, gapMs: 20_000, marginMs: 20_000, maxMarginMs: 300_000 },
    };

async function main() {
  const started = Date.now();
  const stamp = new Date(started)
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z');
  const mode = quick ? 'quick' : 'full';
  const cpu = cpus();
  const results: RunResults = {
    startedAt: new Date(started).toISOString(),
    mode,
    command: `npm run bench${quick ? ' -- --quick' : ''}${only ? ` -- --only ${only.join(',')}` : ''}`,
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model.trim() ?? 'unknown',
      node: process.version,
      platform: process.platform,
    },
    errors: [],
  };
  let services: Services | undefined;
  // Self-stopping: whatever happens, the run ends within the hard limit and stops its services.
  const watchdog = setTimeout(() => {
    log(`hard time limit of ${PLAN.hardLimitMs / 60_000} min reached: stopping`);
    void (services?.stop() ?? Promise.resolve()).finally(() => process.exit(2));
  }, PLAN.hardLimitMs);
  watchdog.unref();

  const section = async <T>(name: Section, run: () => Promise<T>): Promise<T | undefined> => {
    if (!selected(name)) return undefined;
    const t = Date.now();
    log(`${name}…`);
    try {
      const value = await run();
      log(`${name} done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      return value;
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      log(`${name} FAILED: ${message}`);
      if (error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
      results.errors.push({ section: name, error: message });
      return undefined;
    }
  };

  // Cold start first, before the services take the CPU.
  results.coldStart = await section('cold-start', () => coldStart({ runs: PLAN.coldRuns }));
  // Each section gets its own fresh broker and DynamoDB Local (about 10 s to start): DynamoDB Local
  // runs every request on one SQLite thread and slows as earlier sections' tables and streams grow,
  // which made the timeouts section fail after the others (2,000 Creates took 398 s in one run).
  // Only local services: never reach for external ones given in the environment.
  const env = {
    ...process.env,
    KAFKA_BROKERS: undefined,
    DYNAMODB_ENDPOINT: undefined,
    AWS_ENDPOINT_URL: undefined,
  };
  const fresh = async <T>(run: (s: Services) => Promise<T>): Promise<T> => {
    services = await startServices({ env, log });
    try {
      return await run(services);
    } finally {
      await services.stop();
      services = undefined;
    }
  };
  try {
    results.throughput = await section('throughput', () =>
      fresh(async (s) => {
        const rows = await throughput(s, PLAN.throughput);
        results.copies = await copiesPerGroup(s, PLAN.copiesGroups);
        return rows;
      }),
    );
    results.latency = await section('latency', () => fresh((s) => latency(s, PLAN.latency)));
    results.timeouts = await section('timeouts', () => fresh((s) => punctuality(s, PLAN.timeouts)));
    results.writeCost = await section('write-cost', () => fresh((s) => writeCost(s, PLAN.writeCost)));
    if (results.writeCost && results.throughput) {
      const wc = results.writeCost.rows;
      const tp = results.throughput;
      results.pricing = await section('pricing', async () =>
        pricing(wc, tp, { groupSizes: [3, 100, 1000], resultBytes: 100, openSeconds: 10 }),
      );
    }
  } finally {
    await services?.stop();
  }
  results.durationSeconds = Math.round((Date.now() - started) / 1000);

  const resultsDir = join(here, 'results');
  const partial = quick || only !== undefined;
  const reportDir = partial ? join(resultsDir, 'quick') : resultsDir;
  mkdirSync(reportDir, { recursive: true });
  const jsonName = `${stamp}-${mode}${only ? '-partial' : ''}.json`;
  const jsonPath = partial ? join(reportDir, jsonName) : join(resultsDir, jsonName);
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 1)}\n`);
  const charts = writeCharts(results, reportDir);
  const mdPath = partial ? join(reportDir, 'RESULTS.md') : join(here, 'RESULTS.md');
  const jsonRef = partial ? `quick/${jsonName}` : jsonName;
  // The scale-model section (`npm run bench:scale`, a run of its own) is kept when the file is rewritten.
  const previous = existsSync(mdPath) ? readFileSync(mdPath, 'utf8') : '';
  const kept = scaleSectionOf(previous);
  const markdown = resultsMarkdown(results, jsonRef, partial ? '' : 'results/');
  // Likewise the arrival-order section (`npm run bench:orders`).
  const orders = sectionOf(previous, 'orders');
  // And the outcome signatures' section (`npm run bench:signing`).
  const signing = sectionOf(previous, 'signing');
  const scaled = kept ? withScaleSection(markdown, kept) : markdown;
  const written = orders ? withSection(scaled, 'orders', orders) : scaled;
  writeFileSync(mdPath, signing ? withSection(written, 'signing', signing) : written);
  log(`wrote ${jsonPath}, ${mdPath} and ${charts.length} charts in ${results.durationSeconds} s`);
  clearTimeout(watchdog);
  if (results.errors.length > 0) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
