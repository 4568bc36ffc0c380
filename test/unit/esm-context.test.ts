import { describe, expect, it } from 'vitest';
import { createLambdaContext, InvocationTimeoutError, invokeHandler } from '#local/esm/index.ts';

describe('Lambda-like context and in-process invocation (local/esm/context.ts)', () => {
  it('gives a context with a fresh request id, names and a countdown', () => {
    // Prepare
    let now = 1_000;

    // Act
    const a = createLambdaContext({
      functionName: 'collector',
      timeoutMs: 60_000,
      memoryMb: 512,
      now: () => now,
    });
    const b = createLambdaContext({ functionName: 'collector' });
    now += 15_000;

    // Assess
    expect(a.awsRequestId).not.toBe(b.awsRequestId);
    expect(a.functionName).toBe('collector');
    expect(a.invokedFunctionArn).toMatch(/^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:collector$/);
    expect(a.memoryLimitInMB).toBe('512');
    expect(a.logGroupName).toBe('/aws/lambda/collector');
    expect(a.getRemainingTimeInMillis()).toBe(45_000);
  });

  it('returns the response or the error of a handler', async () => {
    const ok = await invokeHandler(async () => ({ batchItemFailures: [] }), {}, { functionName: 'f' });
    const failed = await invokeHandler(
      () => {
        throw new Error('boom');
      },
      {},
      { functionName: 'f' },
    );
    expect(ok).toMatchObject({ ok: true, response: { batchItemFailures: [] } });
    expect(failed).toMatchObject({ ok: false, error: new Error('boom') });
  });

  it('fails an invocation that outlives the timeout only when asked to enforce it', async () => {
    const slow = () => new Promise((r) => setTimeout(() => r('late'), 300));
    const enforced = await invokeHandler(
      slow,
      {},
      { functionName: 'f', timeoutMs: 50, enforceTimeout: true },
    );
    const lenient = await invokeHandler(slow, {}, { functionName: 'f', timeoutMs: 50 });
    expect(enforced.ok).toBe(false);
    expect(!enforced.ok && enforced.error).toBeInstanceOf(InvocationTimeoutError);
    expect(lenient).toMatchObject({ ok: true, response: 'late' });
  });
});
