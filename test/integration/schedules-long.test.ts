import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Explorer, explorer, exploreSeeds } from '../fixtures/scheduler.ts';
import { freshTable, services } from '../helpers/services.ts';

/** The long mode beside the soak (`npm run test:long`): many seeds; `npm run explore` does the same alone. */
const FIRST_SEED = Number(process.env.EXPLORE_SEED ?? 1);
const SEEDS = Number(process.env.EXPLORE_SEEDS ?? 1000);

describe('schedules of concurrent operations, long mode (issue 17)', () => {
  let ex: Explorer;

  beforeAll(async () => {
    const table = await freshTable('explore-long');
    ex = explorer({ endpoint: services().dynamoEndpoint, tableName: table.tableName });
  });
  afterAll(() => ex.close());

  it(`random schedules, seeds ${FIRST_SEED}-${FIRST_SEED + SEEDS - 1}, against the reference model`, async () => {
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
  });
});
