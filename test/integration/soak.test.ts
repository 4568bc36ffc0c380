import { describe, expect, it } from 'vitest';
import { soak, soakProblems } from '../../bench/soak.ts';
import { summary } from '../fixtures/run.ts';
import { services } from '../helpers/services.ts';

/**
 * The short form of `npm run soak`: 300 groups through the whole collector under the local
 * event source mappings, every group and every input record accounted for.
 */
describe('soak (short form of bench/soak.ts)', () => {
  it('300 groups with duplicates, reports before Create, member failures and timeouts: one exact outcome each, no record lost', async () => {
    // Act
    const report = await soak({ services: services(), groups: 300, seed: 7, timeoutMs: 90_000 });
    console.log(summary('soak', report));

    // Assess
    expect(soakProblems(report)).toEqual([]);
    expect(report.outcomes.outcomes).toBe(300);
    expect(report.records.lost).toEqual([]);
    expect(report.records.records).toBe(report.workload.records);
    expect(report.workload.timeouts).toBeGreaterThan(0);
    expect(report.workload.failures).toBeGreaterThan(0);
    expect(report.workload.outOfOrder).toBeGreaterThan(0);
    expect(report.workload.duplicated).toBeGreaterThan(0);
  }, 150_000);
});
