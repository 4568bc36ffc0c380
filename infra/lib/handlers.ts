/**
 * Where the construct finds the pre-bundled Lambda handlers (`npm run build` writes them): beside
 * the construct's own module in the npm package (dist/handlers), or in the repository's dist/
 * when the construct runs from its TypeScript sources (the repository's CDK app builds them first).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUNCTIONS } from '#shared/aws.ts';

/** The most a deployed handler may weigh: the bundle as uploaded, source map excluded. */
export const HANDLER_SIZE_LIMIT_BYTES = 1_000_000;

export type HandlerName = keyof typeof FUNCTIONS;

/** Candidates, first match wins: the package layout (dist/index.js → dist/handlers), then the repository's. */
const CANDIDATES = [
  fileURLToPath(new URL('./handlers/', import.meta.url)),
  fileURLToPath(new URL('../../dist/handlers/', import.meta.url)),
];

/** The directory holding `<name>/index.mjs` for every handler, or an error saying how to build it. */
export function handlersDir(): string {
  const found = CANDIDATES.find((dir) =>
    Object.values(FUNCTIONS).every((fn) => existsSync(join(dir, fn.name, 'index.mjs'))),
  );
  if (!found) {
    throw new Error(
      `GroupCollector: the pre-bundled Lambda handlers are missing (looked in ${CANDIDATES.join(', ')}). ` +
        'In the repository run `npm run build` (cdk synth/deploy from the repository does it for you); ' +
        'an installed package ships them in dist/handlers.',
    );
  }
  return found;
}

export interface HandlerSize {
  readonly name: string;
  /** index.mjs, as deployed. */
  readonly codeBytes: number;
  /** index.mjs.map, deployed only with `sourceMaps: true`. */
  readonly mapBytes: number;
}

export function handlerSizes(dir = handlersDir()): HandlerSize[] {
  const size = (path: string) => (existsSync(path) ? statSync(path).size : 0);
  return Object.values(FUNCTIONS).map((fn) => ({
    name: fn.name,
    codeBytes: size(join(dir, fn.name, 'index.mjs')),
    mapBytes: size(join(dir, fn.name, 'index.mjs.map')),
  }));
}
