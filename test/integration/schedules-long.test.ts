import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Explorer, explorer, exploreSeeds, type Layout } from '../fixtures/scheduler.ts';
import { freshTable, services } from '../helpers/services.ts';

/**
 * The long mode beside the soak (`npm run test:long`): more seeds than `npm test`, on both layouts;
 * `npm run explore -- --layout single|multi` runs as many as asked. About 2-3 s a schedule on a
 * loaded 2-core machine.
 */
const FIRST_SEED = Number(process.env.EXPLORE_SEED ?? 1);
const SEEDS = Number(process.env.EXPLORE_SEEDS ?? 200);

describe.each([
  ['one item per small group', 'single', undefined],
  ['the multi-item layout', 'multi', 0],
] as [string, Layout, number | undefined][])(
  'schedules of concurrent operations, long mode, %s',
  (_, _layout, singleItemMembers) => {
    let ex: Explorer;

    beforeAll(async () => {
      const table = await freshTable('explore-long');
      ex = explorer({ endpoint: services().dynamoEndpoint, tableName: table.tableName, singleItemMembers });
    });
    afterAll(() => ex.close());

    it(
      `random schedules, seeds ${FIRST_SEED}-${FIRST_SEED + SEEDS - 1}, against the reference model`,
      async () => {
        // Prepare
        const started = Date.now();
        const failures: string[] = [];

        // Act
        const run = await exploreSeeds(ex, FIRST_SEED, SEEDS, (seed, result) => {
          if (result.violations.length > 0) failures.push(`seed ${seed}:\n${result.violations.join('\n')}`);
        });
        console.log(
          `[explore] ${run.ran} schedules in ${Date.now() - started} ms; failed seeds: ${run.failed.join(',') || 'none'} (replay: npm run explore -- --seed N --seeds 1)`,
        );

        // Assess
        expect(failures).toEqual([]);
      },
      SEEDS * 10_000,
    );
  },
);
