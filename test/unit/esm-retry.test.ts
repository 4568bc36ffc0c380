import { describe, expect, it } from 'vitest';
import type { InvocationResult } from '#local/esm/context.ts';
import { type BatchDriver, type Discarded, deliverBatch, type ErrorHandling } from '#local/esm/retry.ts';

interface Rec {
  id: number;
  at: number;
}

/** Runs deliverBatch with a scripted function (records → outcome) and records what happened. */
async function run(
  ids: number[],
  handling: Partial<ErrorHandling>,
  fn: (batch: number[], call: number) => 'ok' | 'throw' | number[],
  opts: { now?: number; recordAt?: number } = {},
) {
  const calls: number[][] = [];
  const checkpoints: number[] = [];
  const discarded: { ids: number[]; condition: string; invokeCount: number }[] = [];
  const sleeps: number[] = [];
  const ok = (response: unknown): InvocationResult => ({ ok: true, response, requestId: 'r', durationMs: 0 });
  const driver: BatchDriver<Rec> = {
    async invoke(records) {
      const batch = records.map((r) => r.id);
      calls.push(batch);
      const outcome = fn(batch, calls.length);
      if (outcome === 'throw') return { ok: false, error: new Error('boom'), requestId: 'r', durationMs: 0 };
      if (outcome === 'ok') return ok(undefined);
      return ok({ batchItemFailures: outcome.map((id) => ({ itemIdentifier: String(id) })) });
    },
    lowestFailure(records, response) {
      const failures = (response as { batchItemFailures?: { itemIdentifier: string }[] } | undefined)
        ?.batchItemFailures;
      if (!failures?.length) return -1;
      return Math.min(...failures.map((f) => records.findIndex((r) => String(r.id) === f.itemIdentifier)));
    },
    recordTimeMs: (r) => r.at,
    async checkpoint(last) {
      checkpoints.push(last.id);
    },
    async discard(d: Discarded<Rec>) {
      discarded.push({ ids: d.records.map((r) => r.id), condition: d.condition, invokeCount: d.invokeCount });
    },
    async sleep(ms) {
      sleeps.push(ms);
    },
    now: () => opts.now ?? 1_000_000,
    isStopped: () => false,
  };
  const full: ErrorHandling = {
    maximumRetryAttempts: -1,
    maximumRecordAgeSeconds: -1,
    bisectBatchOnFunctionError: false,
    reportBatchItemFailures: false,
    ...handling,
  };
  await deliverBatch(
    ids.map((id) => ({ id, at: opts.recordAt ?? 1_000_000 })),
    full,
    { initialMs: 100, maxMs: 400 },
    driver,
  );
  return { calls, checkpoints, discarded, sleeps };
}

describe('deliverBatch: retries, bisection, partial responses (local/esm/retry.ts)', () => {
  it('checkpoints after the last record on success', async () => {
    const r = await run([1, 2, 3], {}, () => 'ok');
    expect(r.calls).toEqual([[1, 2, 3]]);
    expect(r.checkpoints).toEqual([3]);
  });

  it('retries the same batch with exponential backoff until it succeeds', async () => {
    const r = await run([1, 2], {}, (_, call) => (call < 5 ? 'throw' : 'ok'));
    expect(r.calls).toEqual([
      [1, 2],
      [1, 2],
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
    expect(r.sleeps).toEqual([100, 200, 400, 400]);
    expect(r.checkpoints).toEqual([2]);
  });

  it('gives up after maximumRetryAttempts retries (not counting the first invocation)', async () => {
    const r = await run([1, 2], { maximumRetryAttempts: 2 }, () => 'throw');
    expect(r.calls.length).toBe(3);
    expect(r.discarded).toEqual([{ ids: [1, 2], condition: 'RetryAttemptsExhausted', invokeCount: 3 }]);
    expect(r.checkpoints).toEqual([2]);
  });

  it('ignores the response unless ReportBatchItemFailures is enabled', async () => {
    const r = await run([1, 2, 3], { reportBatchItemFailures: false }, () => [2]);
    expect(r.calls).toEqual([[1, 2, 3]]);
    expect(r.checkpoints).toEqual([3]);
  });

  it('checkpoints before the lowest reported failure and retries from it', async () => {
    const r = await run([1, 2, 3, 4], { reportBatchItemFailures: true }, (_, call) =>
      call === 1 ? [4, 2] : 'ok',
    );
    expect(r.calls).toEqual([
      [1, 2, 3, 4],
      [2, 3, 4],
    ]);
    expect(r.checkpoints).toEqual([1, 4]);
  });

  it('treats a failure of the first record as a failure of the whole batch', async () => {
    const r = await run([1, 2], { reportBatchItemFailures: true, maximumRetryAttempts: 0 }, () => [1]);
    expect(r.calls).toEqual([[1, 2]]);
    expect(r.discarded[0]?.ids).toEqual([1, 2]);
  });

  it('bisects a failing batch until the poison record is alone, without using retries', async () => {
    const r = await run(
      [1, 2, 3, 4],
      { bisectBatchOnFunctionError: true, maximumRetryAttempts: 1 },
      (batch) => (batch.includes(3) ? 'throw' : 'ok'),
    );
    expect(r.calls).toEqual([[1, 2, 3, 4], [1, 2], [3, 4], [3], [3], [4]]);
    expect(r.discarded).toEqual([{ ids: [3], condition: 'RetryAttemptsExhausted', invokeCount: 2 }]);
    expect(r.checkpoints).toEqual([2, 3, 4]);
  });

  it('bisects at the reported failure with a partial batch response', async () => {
    const r = await run(
      [1, 2, 3, 4, 5],
      { bisectBatchOnFunctionError: true, reportBatchItemFailures: true },
      (batch, call) => (call === 1 ? [2] : batch.length > 1 ? 'throw' : 'ok'),
    );
    expect(r.calls[1]).toEqual([2, 3]);
    expect(r.checkpoints[0]).toBe(1);
    expect(r.checkpoints.at(-1)).toBe(5);
  });

  it('does not send records older than maximumRecordAgeSeconds', async () => {
    const r = await run([1, 2], { maximumRecordAgeSeconds: 60 }, () => 'ok', {
      now: 1_000_000,
      recordAt: 1_000_000 - 61_000,
    });
    expect(r.calls).toEqual([]);
    expect(r.discarded).toEqual([{ ids: [1, 2], condition: 'RecordAgeExceeded', invokeCount: 0 }]);
    expect(r.checkpoints).toEqual([2]);
  });
});
