/**
 * Write cost per report for every arrival order (`npm run bench:orders`): groups of 3, 100, 1,000
 * and 10,000 members with 100 B results (and 1 KB at 1,000), members arriving shuffled in batches
 * of the mapping's size, in member order, or one report per invocation, on a fresh DynamoDB Local
 * and Kafka. Figures are AWS-billed units: DynamoDB Local's transaction units are halved (it
 * reports 4 per KB per item, AWS bills 2). The whole group counts: Create, reports, decision,
 * outcome, marks and index entries.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServices } from '#local/services/index.ts';
import { KAFKA_ESM } from '#shared/aws.ts';
import { benchRuntime, freshTopic, log, round } from './lib.ts';
import { mappedCost, startMappedCollector } from './mapped.ts';
import { pricingAt } from './pricing.ts';
import { withSection } from './scale-trace.ts';
import type { ArrivalOrder } from './write-cost.ts';

const sizes = (process.env.ORDERS_SIZES ?? '3,100,1000,10000').split(',').map(Number);
const orders: ArrivalOrder[] = ['shuffled', 'member', 'trickle'];

const startedAt = Date.now();
/** The machine's load (1-minute average) sampled after each row: handler times are wall times on it. */
const loads: number[] = [];
const services = await startServices();
// The outcome of 10,000 members with 100 B results is about 1.4 MB: the limit is raised within its ceiling.
// The outcome topic takes messages of that size (Kafka's default is 1 MiB).
const outcomeTopic = await freshTopic(services, 'orders-out', 3, { 'max.message.bytes': '4000000' });
const runtime = await benchRuntime(services, 'orders', { maxOutcomeBytes: 3_500_000, outcomeTopic });
// The real local mapping: bursts batched with the deployment's window, trickled reports with none
// (each is handled before the next is produced, so a window would only add its wait).
const mappings = {
  burst: await startMappedCollector(services, runtime, 'orders-burst'),
  trickle: await startMappedCollector(services, runtime, 'orders-trickle', 0),
};
const rows: string[] = [];
/** Cost per million plain groups of 3, 100 and 1,000 (100 B results), shuffled and trickled. */
const costs: string[] = [];
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
      // Groups smaller than a batch: as many open at once as fill a few batches (at volume they share them).
      const groups = Math.ceil((3 * KAFKA_ESM.batchSize) / size);
      const cost = await mappedCost(runtime, mappings, size, bytes, order, policy, groups);
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
        recordsPerInvocation: cost.recordsPerInvocation,
        handlerMsPerRecord: cost.handlerMsPerRecord,
        completed: cost.completed,
        byCommand: cost.byCommand,
        seconds: round((Date.now() - started) / 1000, 1),
      };
      loads.push(loadavg()[0] ?? 0);
      log(JSON.stringify({ ...line, load: round(loads.at(-1) ?? 0, 1) }));
      if (order !== 'member' && kind === 'plain' && bytes === 100 && size <= 1000) {
        // Shuffled: full batches of the mapping's size (many groups share a batch at volume); trickle: one
        // record per invocation. Lambda duration: the handler's wall time per record measured here.
        const fill = order === 'trickle' ? 1 : KAFKA_ESM.batchSize;
        const [collector, standard, express] = pricingAt(
          size,
          cost,
          bytes,
          cost.handlerMsPerRecord / 1000,
          fill,
        );
        costs.push(
          `| ${size} | ${order} | **$${collector?.total}** | $${standard?.total} | $${express?.total} | ${cost.handlerMsPerRecord} ms |`,
        );
      }
      rows.push(
        `| ${size} | ${kind} | ${order} | ${bytes} B | ${line.wcuPerReportWholeGroup} | ${line.wcuPerGroup} | ${cost.callsPerReport} | ${cost.recordsPerInvocation} | ${cost.completed ? 'yes' : 'NO'} |`,
      );
    }
  }
} finally {
  await mappings.burst.stop();
  await mappings.trickle.stop();
  await runtime.close();
  await services.stop();
}
const table = [
  '| members | group | arrival | result | WCU per report (whole group, AWS-billed) | WCU per group | DynamoDB calls per report | reports per invocation | decided |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
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
    `Run ${new Date(startedAt).toISOString()}: \`npm run bench:orders\` (${Math.round((Date.now() - startedAt) / 1000)} s). On a fresh DynamoDB Local and Kafka, through the local Kafka event source mapping (bench/mapped.ts): each record is produced to a topic keyed by its group id (one partition, as the client keys it); the mapping polls and batches (batch size ${KAFKA_ESM.batchSize}) and invokes the collector's handler. The Create is handled first; then the members' reports are produced in one burst, shuffled (members finish in any order) or in member order, batched by the mapping with the deployment's window (${KAFKA_ESM.maximumBatchingWindowSeconds} s), or trickled: one report produced once the previous one is handled (one record per invocation, no window). Shuffled, a group smaller than three batches is measured with others of its size open at once, their reports interleaved as at volume (100 groups of 3, 3 groups of 100; figures per group); otherwise one group at a time. 100 B results unless said. AWS-billed units for the whole group (Create, reports, decision, marks, index entries; DynamoDB Local's transaction units halved). "DynamoDB calls per report": every call after the Create, divided by the reports; "reports per invocation": as the mapping batched them in this run.`,
    '',
    ...table,
    '',
    `Cost per million plain groups (100 B results), from the shuffled and trickle rows above (prices and models of the cost section, \`bench/pricing.ts\`; collector units measured in those rows, Lambda duration from the handler's wall time per record measured in them, on this machine with DynamoDB Local: a wall time, so it grows with the machine's load — 1-minute load average ${round(Math.min(...loads), 1)} to ${round(Math.max(...loads), 1)} on 2 cores during this run; the cost section of \`npm run bench\` prices duration from its throughput run instead). Shuffled: records come in full batches of ${KAFKA_ESM.batchSize} (at volume, many groups' records share a batch); trickle: one record per invocation for every design, so Lambda requests count once per record:`,
    '',
    '| members | arrival | collector | Step Functions Standard | Step Functions Express (10 s open) | handler time per record |',
    '| --- | --- | --- | --- | --- | --- |',
    ...costs,
    '<!-- orders:end -->',
  ].join('\n');
  writeFileSync(mdPath, withSection(readFileSync(mdPath, 'utf8'), 'orders', section));
}
