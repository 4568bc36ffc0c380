import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

/** A Lambda context as the runtime passes it (the fields Powertools reads). */
const context = {
  functionName: 'group-collector-timeouts',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:group-collector-timeouts',
  memoryLimitInMB: '256',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

describe('the Lambda wrapper (middy + Powertools middlewares)', () => {
  const lines: string[] = [];
  const saved = { ...process.env };

  beforeAll(() => {
    // Metrics on (the test run disables them elsewhere), a deployment dimension, no real services touched:
    // an empty stream batch makes no DynamoDB or Kafka call.
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    process.env.COLLECTOR_METRICS_NAMESPACE = 'TestCollector';
    process.env.COLLECTOR_DEPLOYMENT = 'stage-a';
    process.env.DYNAMODB_ENDPOINT = 'http://127.0.0.1:9';
    process.env.AWS_REGION = 'us-east-1';
    // As Lambda sets it: Powertools reports a cold start only for on-demand initialisation.
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
    for (const stream of ['log', 'info', 'warn', 'error'] as const) {
      vi.spyOn(console, stream).mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(' '));
      });
    }
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
  });

  afterAll(() => {
    vi.restoreAllMocks();
    process.env = saved;
  });

  it('logs with the Lambda context, flushes metrics with a cold-start metric once, never an empty-metrics warning', async () => {
    // Prepare
    const { handler } = await import('../../functions/timeouts/handler.ts');

    // Act
    const first = await handler({ Records: [] }, context);
    const afterFirst = lines.splice(0);
    const second = await handler({ Records: [] }, context);
    const afterSecond = lines.splice(0);

    // Assess
    expect(first).toEqual({ batchItemFailures: [] });
    expect(second).toEqual({ batchItemFailures: [] });
    const emf = (batch: string[]) =>
      batch
        .flatMap((l) => l.split('\n'))
        .filter((l) => l.includes('"_aws"'))
        .map(
          (l) =>
            JSON.parse(l) as Record<string, unknown> & {
              _aws: { CloudWatchMetrics: { Namespace: string; Metrics: { Name: string }[] }[] };
            },
        );
    const names = (batch: string[]) =>
      emf(batch).flatMap((e) => e._aws.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name) ?? []);
    expect(names(afterFirst)).toEqual(expect.arrayContaining(['ColdStart', 'StreamRecords']));
    expect(names(afterSecond)).toContain('StreamRecords');
    expect(names(afterSecond)).not.toContain('ColdStart');
    expect(emf(afterFirst).every((e) => e._aws.CloudWatchMetrics[0]?.Namespace === 'TestCollector')).toBe(
      true,
    );
    expect(emf(afterSecond)[0]?.deployment).toBe('stage-a');
    expect([...afterFirst, ...afterSecond].join('\n')).not.toContain('No application metrics');
  });
});
