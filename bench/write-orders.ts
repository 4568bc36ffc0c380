/**
 * Write cost per report for every arrival order (`npm run bench:orders`): groups of 3, 100, 1,000
 * and 10,000 members with 100 B results (and 1 KB at 1,000), members arriving shuffled in batches
 * of the mapping's size, in member order, or one report per invocation, on a fresh DynamoDB Local
 * and Kafka. Figures are AWS-billed units: DynamoDB Local's transaction units are halved (it
 * reports 4 per KB per item, AWS bills 2). The whole group counts: Create, reports, decision,
 * outcome, marks and index entries.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServices } from '#local/services/index.ts';
import { KAFKA_ESM } from '#shared/aws.ts';
import { benchRuntime, freshTopic, log, round } from './lib.ts';
import { tricklePricing } from './pricing.ts';
import { withSection } from './scale-trace.ts';
import { type ArrivalOrder, collectorCost } from './write-cost.ts';

const sizes = (process.env.ORDERS_SIZES ?? '3,100,1000,10000').split(',').map(Number);
const orders: ArrivalOrder[] = ['shuffled', 'member', 'trickle'];

const startedAt = Date.now();
const services = await startServices();
// The outcome of 10,000 members with 100 B results is about 1.4 MB: the limit is raised within its ceiling.
// The outcome topic takes messages of that size (Kafka's default is 1 MiB).
const outcomeTopic = await freshTopic(services, 'orders-out', 3, { 'max.message.bytes': '4000000' });
const runtime = await benchRuntime(services, 'orders', { maxOutcomeBytes: 3_500_000, outcomeTopic });
const rows: string[] = [];
/** Cost per million groups when every record comes alone (plain groups of 3, 100 and 1,000). */
const trickleCosts: string[] = [];
try {
  for (const size of sizes) {
    // At 10,000 members also a tolerate and a quorum group (a running count, no read of other keys).
    const policies = size === 10_000 ? ([{ tolerate: 100 }, { quorum: size - 1 }] as const) : [];
    for (const [order, bytes, policy] of [
      ...orders.map((o) => [o, 100, {}] as const),
      ...(size === 1000 ? [['shuffled', 1000, {}] as const] : []),
      ...policies.flatMap((p) => [['shuffled', 100, p] as const, ['trickle', 100, p] as const]),
    ]) {
      const started = Date.now();
      const cost = await collectorCost(runtime, size, bytes, order, policy);
      const kind =
        'tolerate' in policy
          ? `tolerate ${policy.tolerate}`
          : 'quorum' in policy
            ? `quorum ${policy.quorum}`
            : 'plain';
      const tx = cost.byCommand?.TransactWriteItems ?? 0;
      const billed = cost.wcuPerGroup - tx / 2;
      const line = {
        members: size,
        kind,
        order,
        resultBytes: bytes,
        wcuPerReportWholeGroup: round(billed / size, 3),
        wcuPerGroup: round(billed, 1),
        callsPerReport: cost.callsPerReport,
        completed: cost.completed,
        byCommand: cost.byCommand,
        seconds: round((Date.now() - started) / 1000, 1),
      };
      log(JSON.stringify(line));
      if (order === 'trickle' && kind === 'plain' && bytes === 100 && size <= 1000) {
        // Handler wall time per record of this run (Create and reports, one per invocation).
        const secondsPerRecord = (Date.now() - started) / 1000 / (size + 1);
        const [collector, standard, express] = tricklePricing(size, cost, bytes, secondsPerRecord);
        trickleCosts.push(
          `| ${size} | **$${collector?.total}** | $${standard?.total} | $${express?.total} | ${(secondsPerRecord * 1000).toFixed(2)} ms |`,
        );
      }
      rows.push(
        `| ${size} | ${kind} | ${order} | ${bytes} B | ${line.wcuPerReportWholeGroup} | ${line.wcuPerGroup} | ${cost.callsPerReport} | ${cost.completed ? 'yes' : 'NO'} |`,
      );
    }
  }
} finally {
  await runtime.close();
  await services.stop();
}
const table = [
  '| members | group | arrival | result | WCU per report (whole group, AWS-billed) | WCU per group | DynamoDB calls per report | decided |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
];
for (const line of table) console.log(line);
// Its own section of RESULTS.md (kept by `npm run bench`), when every size ran.
if (!process.env.ORDERS_SIZES) {
  const mdPath = join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');
  const section = [
    '<!-- orders:begin (written by `npm run bench:orders`; kept by `npm run bench`) -->',
    '## Write cost by arrival order',
    '',
    `Run ${new Date(startedAt).toISOString()}: \`npm run bench:orders\` (${Math.round((Date.now() - startedAt) / 1000)} s). One group at a time through \`processKafkaEvent\` on a fresh DynamoDB Local and Kafka: members report shuffled in batches of ${KAFKA_ESM.batchSize} (the mapping's size), in member order, or one report per invocation (trickle); 100 B results unless said. AWS-billed units for the whole group (Create, reports, decision, marks, index entries; DynamoDB Local's transaction units halved). "DynamoDB calls per report": every call of the reports but the last, divided by them.`,
    '',
    ...table,
    '',
    'Cost per million groups when every record comes alone (one record per invocation, so Lambda requests are one per record for every design; prices and models of the cost section, `bench/pricing.ts`; collector units from the trickle rows above, handler time per record measured in them):',
    '',
    '| members | collector | Step Functions Standard | Step Functions Express (10 s open) | handler time per record |',
    '| --- | --- | --- | --- | --- |',
    ...trickleCosts,
    '<!-- orders:end -->',
  ].join('\n');
  writeFileSync(mdPath, withSection(readFileSync(mdPath, 'utf8'), 'orders', section));
}
