/**
 * Peak memory of deciding one large group (issue 17 item 2): a group of N members whose
 * results are each ~64 KiB (the result limit) is reported in small batches; then, after a
 * garbage collection, the last report arrives and the collector decides the group (here an
 * outcome far over the outcome limit: the group fails `Outcome too large`). The figure is the
 * process's peak resident set during that decision minus its resident set just before it.
 *
 *   npm run bench:decide-memory                      # 1,000 members × 64 KiB
 *   npm run bench:decide-memory -- --members 3000
 *
 * Starts its own broker and DynamoDB Local (local/services). Run through `node --expose-gc`
 * (the npm script does). Prints one JSON line with the figures.
 */
import { parseArgs } from 'node:util';
import { LIMITS } from '#shared/config.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import { startServices } from '../local/services/index.ts';
import { benchRuntime, createValue, doneValue, kafkaEvent, memberIds, newId, resultOf } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    members: { type: 'string', default: '1000' },
    'result-bytes': { type: 'string', default: String(LIMITS.maxResultBytes - 64) },
    batch: { type: 'string', default: '25' },
  },
});
const members = Number(args.members);
const resultBytes = Number(args['result-bytes']);
const batch = Number(args.batch);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:decide-memory does)');
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

const services = await startServices({ log: () => {} });
try {
  const runtime = await benchRuntime(services, 'decide-memory');
  const group = newId();
  const ids = memberIds(group, members);
  await processKafkaEvent(kafkaEvent([{ value: createValue(group, ids, 3600) }]), runtime);
  // Every report but the last, a few at a time so that reporting itself stays small.
  const result = resultOf(resultBytes);
  for (let i = 0; i < members - 1; i += batch) {
    const slice = ids.slice(i, Math.min(i + batch, members - 1));
    const out = await processKafkaEvent(
      kafkaEvent(slice.map((id) => ({ value: doneValue(group, id, result) }))),
      runtime,
    );
    if (out.batchItemFailures.length > 0) throw new Error(`reports failed: ${JSON.stringify(out)}`);
  }
  gc();
  gc();
  const before = process.memoryUsage();
  // maxRSS is the process's peak so far (KiB); reporting kept it near `before.rss`.
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  let heapPeak = before.heapUsed;
  const sampler = setInterval(() => {
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  }, 2);
  const started = performance.now();
  const last = ids[members - 1] as string;
  const out = await processKafkaEvent(kafkaEvent([{ value: doneValue(group, last, result) }]), runtime);
  const ms = performance.now() - started;
  clearInterval(sampler);
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  const peakAfter = process.resourceUsage().maxRSS * 1024;
  const state = await runtime.store.getState(group);
  console.log(
    JSON.stringify({
      members,
      resultBytes,
      decided: state?.status,
      failures: out.batchItemFailures.length,
      decisionMs: Math.round(ms),
      rssBeforeMiB: mib(before.rss),
      rssPeakMiB: mib(Math.max(peakAfter, peakBefore)),
      rssPeakGrowthMiB: mib(Math.max(0, peakAfter - Math.max(before.rss, 0))),
      rssPeakBeforeDecisionMiB: mib(peakBefore),
      heapBeforeMiB: mib(before.heapUsed),
      heapPeakSampledMiB: mib(heapPeak),
    }),
  );
  await runtime.close();
} finally {
  await services.stop();
}
