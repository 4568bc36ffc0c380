import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelAfterQuorumSchedule,
  type Explorer,
  earlyCancelAdoptedLateSchedule,
  earlyCancelThenReportSchedule,
  explorer,
  exploreSeeds,
  item1Schedule,
  item4Schedule,
  item10Schedule,
  type Layout,
  strangerExpiryPublishFailsSchedule,
  ttlDuringAdoptionSchedule,
} from '../fixtures/scheduler.ts';
import { freshTable, services } from '../helpers/services.ts';

/**
 * The fixed seeds npm test runs per layout; `npm run test:long` and `npm run explore` run more.
 * Since the schedules also send Extends, tolerate/quorum groups, second reports and faults, each
 * takes two to three times as long: 8 seeds per layout keep this file within `npm test`'s budget.
 */
const FIRST_SEED = 1;
const SEEDS = Number(process.env.EXPLORE_SEEDS ?? 8);

/**
 * Issue 17's randomized interleaving test: schedules of concurrent Creates, reports, duplicates,
 * early reports, errors, sweeps, TTL stream records, publish failures and redeliveries on the real
 * store (DynamoDB Local) and the real handlers; each group checked against the reference model.
 * The three targeted schedules fail on the code before their fixes (d0e429e; branch
 * wip-explore-old carries this explorer unchanged on it): item 1 leaves the last report retrying
 * (InconsistentStateError), item 4 publishes a timeout with `missing: []`, item 10 leaves the
 * early report in the deadline index after every sweep.
 */
// Each schedule runs on both layouts: small groups in one item (LAYOUT.single, the default) and every
// group in the multi-item layout (DEF, member items, counter shards), which larger groups use.
describe.each([
  ['one item per small group', 'single', undefined],
  ['the multi-item layout', 'multi', 0],
] as [string, Layout, number | undefined][])(
  'schedules of concurrent operations against the reference model (issue 17), %s',
  (_, layout, singleItemMembers) => {
    let ex: Explorer;

    beforeAll(async () => {
      // A table of its own: its deadline index holds only this file's entries.
      const table = await freshTable('explore');
      ex = explorer({ endpoint: services().dynamoEndpoint, tableName: table.tableName, singleItemMembers });
    });
    afterAll(() => ex.close());

    it("item 1: an early report's expiry racing the Create's adoption is either counted or dead-lettered, never both", async () => {
      // Prepare
      const schedule = item1Schedule(ex.tag(), layout);

      // Act
      const result = await ex.run(schedule);

      // Assess
      expect(result.notes).toEqual([]);
      expect(result.violations).toEqual([]);
    });

    it('item 4: a last report stored before the deadline, counted after a sweep decided, gives a success', async () => {
      // Prepare
      const schedule = item4Schedule(ex.tag(), layout);

      // Act
      const result = await ex.run(schedule);

      // Assess
      expect(result.notes).toEqual([]);
      expect(result.violations).toEqual([]);
      expect(result.kinds).toEqual({ success: 1 });
    });

    it('item 10: an early report that finds its group decided is deleted, not swept again forever', async () => {
      // Prepare
      const schedule = item10Schedule(ex.tag(), layout);

      // Act
      const result = await ex.run(schedule);

      // Assess
      expect(result.notes).toEqual([]);
      expect(result.violations).toEqual([]);
      expect(result.kinds).toEqual({ 'member-failure': 1 });
    });

    // A product bug found by this explorer (see ttlDuringAdoptionSchedule): TTL removing an early
    // report while the Create adopts it makes the stream handler re-apply it with its own clock; past
    // the deadline the group times out naming the member missing, though its report was stored (early)
    // before the deadline and counted, and it is never dead-lettered (guarantee 4). Passes once fixed.
    it('an early report removed by TTL while its Create adopts it still counts (was lost)', async () => {
      // Prepare
      const schedule = ttlDuringAdoptionSchedule(ex.tag(), layout);

      // Act
      const result = await ex.run(schedule);

      // Assess
      expect(result.notes).toEqual([]);
      expect(result.kinds).toEqual({ success: 1 });
      expect(result.violations).toEqual([]);
    });

    // Found by this explorer (seed 27, single layout; see earlyCancelThenReportSchedule): a small
    // group's early Cancel decided with a report kept early after it (read from its member item), so a
    // group of one was cancelled with `missing: []`. Both layouts now leave that report out.
    it('an early Cancel decides with the reports kept before it only, not one kept after it', async () => {
      // Prepare
      const schedule = earlyCancelThenReportSchedule(ex.tag(), layout);

      // Act
      const result = await ex.run(schedule);

      // Assess
      expect(result.notes).toEqual([]);
      expect(result.kinds).toEqual({ cancelled: 1 });
      expect(result.violations).toEqual([]);
    });

    // Found by this explorer (seed 172; see strangerExpiryPublishFailsSchedule): an early report's
    // expiry hands its claim to `adopt` before applying it; when that failed transiently (here the
    // member-not-expected dead letter's publish), every later expiry found `adopt` and returned late:
    // the early copy was never dead-lettered nor deleted. Now the expiry takes its own claim back.
    it("a stranger's early report whose expiry dead letter failed to publish is dead-lettered by a later sweep", async () => {
      // Prepare
      const schedule = strangerExpiryPublishFailsSchedule(ex.tag(), layout);

      // Act
      const result = await ex.run(schedule);

      // Assess
      expect(result.notes).toEqual([]);
      expect(result.violations).toEqual([]);
    });

    // Found by this explorer (seeds 239, 387 single, 213 multi; see cancelAfterQuorumSchedule): a Cancel
    // decided from stored reports that had already reached a quorum (or more errors than tolerated),
    // instead of finding the group decided by them. Now those reports decide and the Cancel is late.
    it('an early Cancel whose adoption comes after the deadline (the Create died first) cancels the group', async () => {
      // Prepare
      const schedule = earlyCancelAdoptedLateSchedule(ex.tag(), layout);

      // Act
      const result = await ex.run(schedule);

      // Assess
      expect(result.notes).toEqual([]);
      expect(result.violations).toEqual([]);
      expect(result.kinds).toEqual({ cancelled: 1 });
    });

    it('a Cancel after the report that reached the quorum is late: the quorum succeeds', async () => {
      // Prepare
      const schedule = cancelAfterQuorumSchedule(ex.tag(), layout);

      // Act
      const result = await ex.run(schedule);

      // Assess
      expect(result.notes).toEqual([]);
      expect(result.kinds).toEqual({ success: 1 });
      expect(result.violations).toEqual([]);
    });

    it(`random schedules, seeds ${FIRST_SEED}-${FIRST_SEED + SEEDS - 1}: one outcome per group, as the model allows, none lost, nothing left retrying`, async () => {
      // Prepare
      const started = Date.now();
      const failures: string[] = [];

      // Act
      const run = await exploreSeeds(ex, FIRST_SEED, SEEDS, (seed, result) => {
        if (result.violations.length > 0) failures.push(`seed ${seed}:\n${result.violations.join('\n')}`);
      });
      const groups = run.results.reduce((n, r) => n + Object.values(r.kinds).reduce((a, b) => a + b, 0), 0);
      const kinds: Record<string, number> = {};
      for (const r of run.results)
        for (const [k, n] of Object.entries(r.kinds)) kinds[k] = (kinds[k] ?? 0) + n;
      console.log(
        `[explore] ${run.ran} schedules, ${groups} groups (${JSON.stringify(kinds)}), ${run.results.reduce((n, r) => n + r.ops, 0)} operations, ${run.results.reduce((n, r) => n + r.pausesHit, 0)} pauses hit in ${Date.now() - started} ms; failed seeds: ${run.failed.join(',') || 'none'} (replay: npm run explore -- --seed N --seeds 1)`,
      );

      // Assess
      expect(failures).toEqual([]);
      // The seeds send Cancels, and some of them decide their group.
      if (SEEDS >= 15) expect(kinds.cancelled ?? 0).toBeGreaterThan(0);
    });
  },
);
