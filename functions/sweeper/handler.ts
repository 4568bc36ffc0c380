/**
 * The punctual-deadline sweeper. DynamoDB's TTL may take days to remove an expired group, so this
 * function finds due deadlines in the store's deadline index and decides their timeouts within
 * seconds. Scheduled once a minute; each invocation sweeps every SWEEPER.intervalMs until the
 * next one takes over. A lease keeps one sweeper at a time (no reserved concurrency needed).
 */
import { randomUUID } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DueEntry } from '#core/model.ts';
import { FUNCTIONS, SWEEPER } from '#shared/aws.ts';
import { settleAll } from '#shared/batch.ts';
import { lambdaHandler } from '#shared/lambda.ts';
import { METRIC_NAMES } from '#shared/metrics.ts';
import type { Runtime } from '#shared/runtime.ts';

export interface SweepResult {
  due: number;
  failed: number;
}

/** One pass over the deadline index: times out due groups, expires early reports, Cancels and Extends whose wait ran out. */
export async function sweepOnce(
  runtime: Runtime,
  now: () => number = Date.now,
  options: { maxPerShard?: number } = {},
): Promise<SweepResult> {
  const { store, collector, logger } = runtime;
  const due = await store.dueEntries(now(), options.maxPerShard ?? SWEEPER.maxDuePerShard);
  const groups = due.filter((e) => e.kind === 'group');
  const earlies = due.filter((e) => e.kind !== 'group');
  // Out of the way for a while (doubling, up to SWEEPER.maxBackoffMs), so that an entry that keeps
  // failing (an outcome its destination refuses) never holds back the others.
  const deferFailed = async (entry: DueEntry, error: unknown) => {
    const failures = await store.deferDue(entry, now() + SWEEPER.firstBackoffMs).catch(() => 0);
    if (failures > 1) {
      await store
        .deferDue(entry, now() + Math.min(SWEEPER.firstBackoffMs * 2 ** (failures - 1), SWEEPER.maxBackoffMs))
        .catch(() => 0);
    }
    logger.error('sweep item failed; retried later', { error, entry, failures });
  };
  let failed = 0;
  // Due groups in chunks: their reads are batched and each chunk's outcomes go out in one produce.
  for (let i = 0; i < groups.length; i += SWEEPER.decisionChunk) {
    const chunk = groups.slice(i, i + SWEEPER.decisionChunk);
    const settled = await collector
      .timeoutGroups(
        chunk.map((e) => e.groupId),
        now(),
        'sweeper',
        SWEEPER.concurrency,
      )
      .catch((error: unknown) =>
        chunk.map((): PromiseSettledResult<void> => ({ status: 'rejected', reason: error })),
      );
    const rejected = chunk.flatMap((entry, j) => {
      const result = settled[j];
      return result?.status === 'rejected' ? [{ entry, error: result.reason as unknown }] : [];
    });
    failed += rejected.length;
    await settleAll(rejected, SWEEPER.concurrency, (r) => deferFailed(r.entry, r.error));
  }
  const results = await settleAll(earlies, SWEEPER.concurrency, async (entry) => {
    try {
      if (entry.kind === 'early') {
        const early = await store.getEarly(entry.groupId, entry.member);
        if (early) await collector.expireEarly(early, now(), false);
      } else if (entry.kind === 'early-extend') {
        const early = await store.getEarlyExtend(entry.groupId, entry.origin);
        if (early) await collector.expireEarlyExtend(early, now(), false);
      } else if (entry.kind === 'early-cancel') {
        const early = await store.getEarlyCancel(entry.groupId);
        if (early) await collector.expireEarlyCancel(early, now(), false);
      }
    } catch (error) {
      await deferFailed(entry, error);
      throw error;
    }
  });
  failed += results.filter((r) => r.status === 'rejected').length;
  if (failed > 0) runtime.metrics.addMetric(METRIC_NAMES.sweepFailures, MetricUnit.Count, failed);
  return { due: due.length, failed };
}

/**
 * Sweeps repeatedly until `shouldStop` says so. With `lease` (on Lambda), only while this sweeper
 * holds the lease: an overlapping invocation skips its sweeps until the lease lapses.
 * Throws if every sweep of the run failed.
 */
export async function sweepLoop(
  runtime: Runtime,
  shouldStop: () => boolean,
  options: { intervalMs?: number; lease?: boolean } = {},
): Promise<{ sweeps: number; skipped: number; due: number; failed: number }> {
  const intervalMs = options.intervalMs ?? SWEEPER.intervalMs;
  const owner = randomUUID();
  const total = { sweeps: 0, skipped: 0, due: 0, failed: 0 };
  let lastError: unknown;
  while (!shouldStop()) {
    const started = Date.now();
    try {
      if (!options.lease || (await runtime.store.acquireSweeperLease(owner, started, SWEEPER.leaseMs))) {
        const result = await sweepOnce(runtime);
        total.due += result.due;
        total.failed += result.failed;
        total.sweeps += 1;
      } else {
        total.skipped += 1;
      }
    } catch (error) {
      lastError = error;
      total.failed += 1;
      total.sweeps += 1;
      runtime.logger.error('sweep failed', { error });
    }
    const wait = intervalMs - (Date.now() - started);
    if (wait > 0 && !shouldStop()) await new Promise((r) => setTimeout(r, wait));
  }
  if (options.lease) await runtime.store.releaseSweeperLease(owner).catch(() => {});
  if (lastError && total.failed >= total.sweeps) throw lastError;
  return total;
}

export const handler = lambdaHandler(FUNCTIONS.sweeper.name, async (_event: unknown, runtime, context) => {
  const until = Date.now() + SWEEPER.runForSeconds * 1000;
  const total = await sweepLoop(
    runtime,
    () => Date.now() >= until || context.getRemainingTimeInMillis() < 5_000,
    { lease: true },
  );
  runtime.metrics.addMetric(METRIC_NAMES.sweeps, MetricUnit.Count, total.sweeps);
  runtime.metrics.addMetric(METRIC_NAMES.dueEntries, MetricUnit.Count, total.due);
  runtime.logger.info('sweeper run finished', total);
  return total;
});
