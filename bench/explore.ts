/**
 * The schedule explorer's long mode: `npm run explore -- --seeds 1000 --seed 1 [--targeted]`.
 * Runs random schedules `seed … seed + seeds - 1` (and, with --targeted, the schedules of issue 17
 * items 1, 4 and 10) against the real store on DynamoDB Local and the real handlers, checking each
 * against the reference model (test/fixtures/model.ts). Prints how many schedules ran and the seed
 * of every failure (replay one with `--seed N --seeds 1`); exits 1 on any failure. Uses
 * DYNAMODB_ENDPOINT when set, otherwise starts DynamoDB Local (Kafka is not needed: outcomes and
 * dead letters go to a recording publisher).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureTable, localDynamoClient, startDynamo } from '#local/services/dynamodb.ts';
import { freePort } from '#local/services/process.ts';
import { ENV } from '#shared/config.ts';
import { explorer, randomSchedule, type ScheduleResult, TARGETED } from '../test/fixtures/scheduler.ts';

// Metrics are not flushed by a Lambda wrapper here: without this, Powertools would print them.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    targeted: { type: 'boolean', default: false },
    layout: { type: 'string', default: 'single' },
    verbose: { type: 'boolean', default: false },
  },
});
const first = Number(args.seed);
const count = Number(args.seeds);
if (!Number.isInteger(first) || !Number.isInteger(count) || count < 0) {
  console.error(
    'usage: npm run explore -- [--seeds N] [--seed S] [--targeted] [--layout single|multi] [--verbose]',
  );
  process.exit(2);
}

const external = process.env[ENV.dynamodbEndpoint] || process.env[ENV.awsEndpoint];
const dataDir = mkdtempSync(join(tmpdir(), 'explore-'));
const dynamo = external
  ? { endpoint: external, stop: async () => {} }
  : await startDynamo({ port: await freePort(), dataDir });
const tableName = `explore-${Date.now()}`;
const client = localDynamoClient(dynamo.endpoint);
await ensureTable(client, tableName).finally(() => client.destroy());
// single: small groups in one item (the default); multi: every group in the multi-item layout.
const layout = args.layout === 'multi' ? 'multi' : 'single';
const ex = explorer({
  endpoint: dynamo.endpoint,
  tableName,
  singleItemMembers: layout === 'multi' ? 0 : undefined,
});

const started = Date.now();
const failed: { name: string; violations: string[] }[] = [];
const totals = { schedules: 0, ops: 0, pauses: 0, faults: 0, copies: 0, deadLetters: 0 };
const kinds: Record<string, number> = {};
const tally = (r: ScheduleResult) => {
  totals.schedules += 1;
  totals.ops += r.ops;
  totals.pauses += r.pausesHit;
  totals.faults += r.faultsHit;
  totals.copies += r.extraCopies;
  totals.deadLetters += r.deadLetters;
  for (const [k, n] of Object.entries(r.kinds)) kinds[k] = (kinds[k] ?? 0) + n;
  if (r.violations.length > 0) {
    failed.push({ name: r.name, violations: r.violations });
    console.log(`FAIL ${r.name}\n${r.violations.join('\n')}`);
  } else if (args.verbose) {
    console.log(
      `ok ${r.name} (${r.ops} ops, ${r.ms} ms)${r.notes.length > 0 ? `\n  ${r.notes.join('\n  ')}` : ''}`,
    );
  }
};

try {
  if (args.targeted) {
    for (const make of Object.values(TARGETED)) tally(await ex.run(make(ex.tag(), layout)));
  }
  for (let seed = first; seed < first + count; seed++) {
    tally(await ex.run(randomSchedule(seed, ex.tag())));
    if ((seed - first + 1) % 100 === 0) {
      console.log(
        `… ${seed - first + 1}/${count} seeds, ${failed.length} failed, ${Math.round((Date.now() - started) / 1000)} s`,
      );
    }
  }
} finally {
  await ex.close();
  await dynamo.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

const seconds = ((Date.now() - started) / 1000).toFixed(1);
const groups = Object.entries(kinds)
  .map(([k, n]) => `${n} ${k}`)
  .join(', ');
console.log(
  `explore: ${totals.schedules} schedules (seeds ${first}-${first + count - 1}${args.targeted ? ' + items 1, 4, 10' : ''}, ${layout} layout) in ${seconds} s; groups: ${groups}; ${totals.ops} operations, ${totals.pauses} pauses hit, ${totals.faults} faults injected, ${totals.copies} extra identical outcome copies, ${totals.deadLetters} dead letters`,
);
if (failed.length > 0) {
  console.log(
    `FAILED ${failed.length}: ${failed.map((f) => f.name).join('; ')} (replay: npm run explore -- --seed N --seeds 1)`,
  );
  process.exit(1);
}
console.log('no violations');
