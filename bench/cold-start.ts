/**
 * 5. Cold start: the size of each function's bundle (esbuild: platform node,
 * target node22, ESM, minified) and the time a fresh Node process takes to
 * import the bundle and build its clients (environmentRuntime: DynamoDB client,
 * Kafka publisher, logger, metrics; no network call). Median of several runs.
 *
 * Two variants: `@aws-sdk/*` external (the nodejs22.x runtime provides it, so
 * the deployment package leaves it out; here it loads from node_modules) and
 * everything bundled (pins the SDK version, as CDK's NodejsFunction does for
 * nodejs18.x and later unless told otherwise).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Plugin } from 'esbuild';
import { log, median, round } from './lib.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const outDir = join(here, '.out');

export const FUNCTIONS = ['collector', 'timeouts', 'sweeper'] as const;
export type Variant = 'sdk-external' | 'all-bundled';

export interface ColdStartRow {
  fn: (typeof FUNCTIONS)[number];
  variant: Variant;
  bytes: number;
  gzipBytes: number;
  /** Median over runs: import of the bundle, in a fresh process. */
  importMs: number;
  /** Median: environmentRuntime() after the import (clients built, nothing connected). */
  clientsMs: number;
  /** Median wall time of the whole `node` process (start, import, clients, exit). */
  processMs: number;
  runs: number;
}

export interface ColdStartResult {
  esbuild: string;
  node: string;
  settings: string;
  notes: string[];
  rows: ColdStartRow[];
}

/** ESM bundles of CommonJS packages need `require` for Node's built-ins. */
const banner = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/** Modules the runtime imports that do not exist (yet) in the tree are stubbed, and said so. */
function stubMissing(notes: string[]): Plugin {
  return {
    name: 'stub-missing',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\/.*\.ts$/ }, (args) => {
        const path = resolve(args.resolveDir, args.path);
        if (existsSync(path)) return undefined;
        const note = `${path.slice(root.length + 1)} is missing in the tree: stubbed with an empty module`;
        if (!notes.includes(note)) notes.push(note);
        return { path, namespace: 'stub' };
      });
      b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
        contents: 'export async function kafkaConnectionConfig() { return {}; }',
        loader: 'js',
      }));
    },
  };
}

async function bundle(entry: string, outfile: string, variant: Variant, notes: string[]) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // As scripts/build.ts builds the deployed handlers: ES module builds of dependencies first.
    mainFields: ['module', 'main'],
    tsconfig: join(root, 'tsconfig.json'),
    banner: { js: banner },
    external: variant === 'sdk-external' ? ['@aws-sdk/*'] : [],
    plugins: [stubMissing(notes)],
    logLevel: 'silent',
    absWorkingDir: root,
  });
}

const probe = `
const t0 = performance.now();
const m = await import(process.argv[2]);
const t1 = performance.now();
const settings = m.loadSettings();
await m.environmentRuntime(process.argv[3], { ...m.observability(process.argv[3], settings), settings });
const t2 = performance.now();
process.stdout.write(JSON.stringify({ importMs: t1 - t0, clientsMs: t2 - t1 }));
process.exit(0);
`;

export async function coldStart(options: { runs: number }): Promise<ColdStartResult> {
  mkdirSync(outDir, { recursive: true });
  const probeFile = join(outDir, 'probe.mjs');
  writeFileSync(probeFile, probe);
  const notes: string[] = [];
  const rows: ColdStartRow[] = [];
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    COLLECTOR_TABLE_NAME: 'bench',
    KAFKA_BROKERS: '127.0.0.1:9',
    DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  };
  for (const variant of ['sdk-external', 'all-bundled'] as const) {
    for (const fn of FUNCTIONS) {
      const handlerFile = join(outDir, `${fn}-${variant}.mjs`);
      await bundle(join(root, 'functions', fn, 'handler.ts'), handlerFile, variant, notes);
      // The timed bundle also exports environmentRuntime (already inside the handler's bundle).
      const entry = join(outDir, `${fn}-entry.ts`);
      writeFileSync(
        entry,
        `export * from '../../functions/${fn}/handler.ts';\nexport { environmentRuntime, observability } from '../../functions/shared/runtime.ts';\nexport { loadSettings } from '../../functions/shared/config.ts';\n`,
      );
      const timedFile = join(outDir, `${fn}-${variant}-timed.mjs`);
      await bundle(entry, timedFile, variant, notes);
      const bytes = readFileSync(handlerFile);
      const imports: number[] = [];
      const clients: number[] = [];
      const processes: number[] = [];
      for (let i = 0; i < options.runs; i++) {
        const started = performance.now();
        const out = spawnSync('node', [probeFile, timedFile, fn], { env, encoding: 'utf8', timeout: 60_000 });
        processes.push(performance.now() - started);
        if (out.status !== 0) throw new Error(`cold start probe of ${fn} failed: ${out.stderr.slice(-600)}`);
        const t = JSON.parse(out.stdout) as { importMs: number; clientsMs: number };
        imports.push(t.importMs);
        clients.push(t.clientsMs);
      }
      const row: ColdStartRow = {
        fn,
        variant,
        bytes: bytes.length,
        gzipBytes: gzipSync(bytes).length,
        importMs: round(median(imports), 1),
        clientsMs: round(median(clients), 1),
        processMs: round(median(processes), 1),
        runs: options.runs,
      };
      log(
        `cold start ${fn} (${variant}): ${round(row.bytes / 1024, 1)} KiB, import ${row.importMs} ms, clients ${row.clientsMs} ms`,
      );
      rows.push(row);
    }
  }
  const esbuildVersion = (
    JSON.parse(readFileSync(join(root, 'node_modules/esbuild/package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  return {
    esbuild: esbuildVersion,
    node: process.version,
    settings:
      'esbuild bundle with the options of scripts/build.ts (the deployed handlers): platform node, target node22, format esm, minify, mainFields module then main, banner createRequire; variants: @aws-sdk/* external (as deployed) | all bundled',
    notes,
    rows,
  };
}
