/**
 * The punctual-deadline sweeper. DynamoDB's TTL may take days to remove an
 * expired group, so this function finds due deadlines in the sparse `deadlines`
 * index and decides their timeouts within seconds. Scheduled once a minute; each
 * invocation sweeps every SWEEPER.intervalMs until the next one takes over.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { deadlineShards } from '#core/rules.ts';
import { settleAll } from '#shared/batch.ts';
import { SWEEPER } from '#shared/config.ts';
import { environmentRuntime, type Runtime } from '#shared/runtime.ts';

export interface SweepResult {
  due: number;
  failed: number;
}

/** One pass over every shard of the deadline index: times out due groups, expires waiting early reports. */
export async function sweepOnce(runtime: Runtime, now: () => number = Date.now): Promise<SweepResult> {
  const { store, collector, logger } = runtime;
  const startedAt = now();
  const due = (
    await Promise.all(deadlineShards().map((shard) => store.dueDeadlines(shard, startedAt)))
  ).flat();
  const results = await settleAll(due, SWEEPER.concurrency, async ({ pk, sk }) => {
    if (sk === 'STATE') {
      await collector.timeoutGroup(pk.slice(2), now());
      return;
    }
    const groupId = pk.slice(2, pk.lastIndexOf('#M'));
    const item = await store.getMember(groupId, sk.slice(2));
    if (item?.early) await collector.expireEarly(item, now(), false);
  });
  const failed = results.filter((r) => r.status === 'rejected');
  for (const f of failed) logger.error('sweep item failed; the next sweep retries it', { error: f.reason });
  return { due: due.length, failed: failed.length };
}

/** Sweeps repeatedly until `shouldStop` says so. Throws if every sweep of the run failed. */
export async function sweepLoop(
  runtime: Runtime,
  shouldStop: () => boolean,
  intervalMs: number = SWEEPER.intervalMs,
): Promise<{ sweeps: number; due: number; failed: number }> {
  const total = { sweeps: 0, due: 0, failed: 0 };
  let lastError: unknown;
  while (!shouldStop()) {
    const started = Date.now();
    try {
      const result = await sweepOnce(runtime);
      total.due += result.due;
      total.failed += result.failed;
    } catch (error) {
      lastError = error;
      total.failed += 1;
      runtime.logger.error('sweep failed', { error });
    }
    total.sweeps += 1;
    const wait = intervalMs - (Date.now() - started);
    if (wait > 0 && !shouldStop()) await new Promise((r) => setTimeout(r, wait));
  }
  if (lastError && total.failed >= total.sweeps) throw lastError;
  return total;
}

export const handler = middy(async (_event: unknown, context: Context) => {
  const runtime = await environmentRuntime('sweeper');
  runtime.logger.addContext(context);
  const until = Date.now() + SWEEPER.runForSeconds * 1000;
  try {
    const total = await sweepLoop(
      runtime,
      () => Date.now() >= until || context.getRemainingTimeInMillis() < 5_000,
    );
    runtime.logger.info('sweeper run finished', total);
    return total;
  } finally {
    runtime.metrics.publishStoredMetrics();
  }
});
