/**
 * CI smoke of the benchmarks: `npm run bench -- --quick` runs every section on fresh local
 * services and writes its report. No speed is asserted (these machines are noisy): the run
 * must finish, every section must produce its figures, and no section may fail.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const quickDir = join(root, 'bench/results/quick');

describe('npm run bench -- --quick (CI smoke)', () => {
  it(
    'runs every section and writes its report, with no section failed',
    async () => {
      // Prepare: the bench starts its own services; it must not use the test run's.
      const started = Date.now();
      const env = { ...process.env };
      for (const name of ['KAFKA_BROKERS', 'DYNAMODB_ENDPOINT', 'AWS_ENDPOINT_URL']) delete env[name];

      // Act
      const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick'], {
          cwd: root,
          env,
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => {
          stdout += d;
        });
        child.stderr.on('data', (d) => {
          stderr += d;
        });
        const timer = setTimeout(() => child.kill('SIGTERM'), 9 * 60_000);
        child.on('close', (status) => {
          clearTimeout(timer);
          resolve({ status, stdout, stderr });
        });
      });

      // Assess
      expect(run.status, `${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`).toBe(0);
      const reports = readdirSync(quickDir)
        .filter((f) => f.endsWith('-quick.json'))
        .map((f) => join(quickDir, f))
        .filter((f) => statSync(f).mtimeMs >= started);
      expect(reports).toHaveLength(1);
      const results = JSON.parse(readFileSync(reports[0] as string, 'utf8'));
      expect(results.errors).toEqual([]);
      expect(results.coldStart.rows.length).toBeGreaterThan(0);
      expect(results.throughput.map((r: { groupSize: number }) => r.groupSize)).toEqual([3, 100, 1000]);
      for (const row of results.throughput) expect(row.efficiency).toBeGreaterThan(0);
      expect(results.latency.samples).toBeGreaterThan(0);
      expect(results.writeCost.rows.length).toBeGreaterThan(0);
      expect(results.timeouts).toBeDefined();
      expect(results.pricing).toBeDefined();
      expect(statSync(join(quickDir, 'RESULTS.md')).mtimeMs).toBeGreaterThanOrEqual(started);
    },
    10 * 60_000,
  );
});
