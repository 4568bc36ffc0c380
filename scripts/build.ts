/**
 * `npm run build`: everything the npm package ships, in dist/ (gitignored).
 *
 * - dist/handlers/<name>/index.mjs: the three Lambda handlers, pre-bundled (ES module, minified,
 *   AWS SDK v3 left to the Lambda runtime), each with its source map beside it (index.mjs.map),
 *   which the construct uploads only when asked (`sourceMaps: true`).
 * - dist/index.js (the GroupCollector construct), dist/client.js (the typed client), dist/inspect.js
 *   (inspectGroup, for operators' tools: reads the table, so apart from the client), dist/cli.js
 *   (the `group-collector` command): bundled ES modules whose dependencies stay imports.
 * - dist/types/**: declarations of the construct and the client (tsc -p tsconfig.build.json).
 *
 * `tsx scripts/build.ts handlers` builds only the handlers (the repository's CDK app and the infra
 * tests run that: seconds, no declarations).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { FUNCTIONS } from '#shared/aws.ts';
import { HANDLER_SIZE_LIMIT_BYTES, handlerSizes } from '../infra/lib/handlers.ts';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');

/** Left to the Lambda Node.js runtime, which ships AWS SDK for JavaScript v3 (docs/deploy.md, "Bundles"). */
const RUNTIME_PROVIDED = ['@aws-sdk/*'];
/** A `require` for CommonJS dependencies bundled into an ES module (kafkajs, the AWS SDK). */
const REQUIRE_SHIM =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";
/** Imports the published construct, client and CLI keep: the package's dependencies and peers. */
const PACKAGE_EXTERNALS = ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs', 'kafkajs', 'zod'];

export async function buildHandlers(outDir = join(DIST, 'handlers')): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  await Promise.all(
    Object.values(FUNCTIONS).map((fn) =>
      build({
        entryPoints: [join(ROOT, 'functions', fn.name, 'handler.ts')],
        outfile: join(outDir, fn.name, 'index.mjs'),
        bundle: true,
        platform: 'node',
        target: 'node22',
        format: 'esm',
        minify: true,
        sourcemap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        external: RUNTIME_PROVIDED,
        tsconfig: join(ROOT, 'tsconfig.json'),
        // CommonJS dependencies (kafkajs) call require(); give the ES module one.
        banner: { js: REQUIRE_SHIM },
        logLevel: 'warning',
      }),
    ),
  );
  const sizes = handlerSizes(outDir);
  for (const { name, codeBytes, mapBytes } of sizes) {
    console.log(
      `dist/handlers/${name}/index.mjs  ${codeBytes} bytes (source map ${mapBytes} bytes, not deployed by default)`,
    );
  }
  const over = sizes.filter((s) => s.codeBytes > HANDLER_SIZE_LIMIT_BYTES);
  if (over.length > 0) {
    throw new Error(
      `handler bundles over ${HANDLER_SIZE_LIMIT_BYTES} bytes: ${over.map((s) => `${s.name} ${s.codeBytes}`).join(', ')}`,
    );
  }
}

async function buildLibrary(): Promise<void> {
  const common = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: PACKAGE_EXTERNALS,
    tsconfig: join(ROOT, 'tsconfig.json'),
    logLevel: 'warning',
    // The AWS SDK bundled into inspect.js and cli.js is CommonJS and calls require(): give the ES module one.
    banner: { js: REQUIRE_SHIM },
  } as const;
  await build({
    ...common,
    entryPoints: {
      index: join(ROOT, 'infra', 'index.ts'),
      client: join(ROOT, 'client', 'index.ts'),
      inspect: join(ROOT, 'functions', 'service', 'inspect.ts'),
    },
    outdir: DIST,
  });
  await build({
    ...common,
    entryPoints: { cli: join(ROOT, 'cli', 'bin.ts') },
    outdir: DIST,
    banner: { js: `#!/usr/bin/env node\n${REQUIRE_SHIM}` },
  });
}

/** Declarations, with `#shared/…` and `./x.ts` specifiers rewritten to what the package holds. */
function buildTypes(): void {
  const typesDir = join(DIST, 'types');
  rmSync(typesDir, { recursive: true, force: true });
  execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    imports: Record<string, string>;
  };
  const aliases = Object.entries(pkg.imports).map(([alias, target]) => ({
    prefix: alias.replace(/\*$/, ''),
    dir: join(typesDir, target.replace(/\*$/, '')),
  }));
  for (const file of walk(typesDir).filter((f) => f.endsWith('.d.ts'))) {
    const text = readFileSync(file, 'utf8').replace(
      /(from\s+|import\(\s*)(['"])([^'"]+)\2/g,
      (_all, lead: string, quote: string, spec: string) => {
        let target = spec;
        const alias = aliases.find((a) => spec.startsWith(a.prefix));
        if (alias) {
          target = relative(dirname(file), join(alias.dir, spec.slice(alias.prefix.length)));
          if (!target.startsWith('.')) target = `./${target}`;
        }
        if (target.startsWith('.')) target = target.replace(/\.ts$/, '.js');
        return `${lead}${quote}${target}${quote}`;
      },
    );
    writeFileSync(file, text);
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

async function main(only: string | undefined): Promise<void> {
  if (only === 'handlers') {
    await buildHandlers();
  } else if (only === undefined) {
    rmSync(DIST, { recursive: true, force: true });
    mkdirSync(DIST, { recursive: true });
    await buildHandlers();
    await buildLibrary();
    buildTypes();
    console.log('dist/ built: index.js, client.js, inspect.js, cli.js, handlers/, types/');
  } else {
    throw new Error(`usage: tsx scripts/build.ts [handlers]; got "${only}"`);
  }
}

// Run as a script (npm run build, cdk.json); imported by the infra tests for buildHandlers only.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv[2]);
}
