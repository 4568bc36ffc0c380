/**
 * Regenerates RESULTS.md and the charts from a results JSON (pricing recomputed):
 *   npx tsx bench/render.ts bench/results/<file>.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pricing } from './pricing.ts';
import { type RunResults, resultsMarkdown, writeCharts } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const file = process.argv[2];
if (!file) throw new Error('usage: tsx bench/render.ts <results.json>');
const results = JSON.parse(readFileSync(file, 'utf8')) as RunResults;
if (results.writeCost && results.throughput) {
  results.pricing = pricing(results.writeCost.rows, results.throughput, {
    groupSizes: [3, 100, 1000],
    resultBytes: 100,
    openSeconds: 10,
  });
}
const full = results.mode === 'full' && !file.includes('partial');
const dir = full ? join(here, 'results') : dirname(file);
writeCharts(results, dir);
const md = full ? join(here, 'RESULTS.md') : join(dir, 'RESULTS.md');
writeFileSync(
  md,
  resultsMarkdown(results, full ? basename(file) : `quick/${basename(file)}`, full ? 'results/' : ''),
);
process.stderr.write(`wrote ${md}\n`);
