import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOutcome } from '#core/outcome.ts';
import { outcomeInput } from '#core/rules.ts';
import { DLQ_HEADERS, LIMITS } from '#shared/config.ts';
import type { Runtime } from '#shared/runtime.ts';
import { keys } from '#store/layout.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';
import { dynamoClient, services } from '../helpers/services.ts';

const json = (value: unknown) => JSON.stringify(value);
const create = (id: string, expected: string[], extra: Record<string, unknown> = {}) =>
  json({ id, type: 'EventGroupCollectorCreate', expected, ttl: 300, ...extra });
const done = (group: string, id: string, extra: Record<string, unknown> = {}) =>
  json({ id, type: 'EventGroupCollectorEntityDone', group, result: { by: id }, ...extra });

/** Issue 17: inputs that used to end in retries (and the failure destination) are dead letters at once. */
describe('hardening on the real services (issue 17)', () => {
  let runtime: Runtime & { close(): Promise<void> };
  const deadLetters = async () => drainTopic(runtime.settings.deadLetterTopic);

  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(() => runtime.close());

  it('item 5: a report before its group too large to keep with its original record is dead-lettered value-too-large', async () => {
    // Prepare: an unknown extra field of 298 KB passes the schema; raw + parsed copies exceed 400 KB
    const group = newGroupId();
    const value = done(group, 'a', { extra: 'x'.repeat(298_000), result: 'r'.repeat(60_000) });

    // Act
    const response = await processKafkaEvent(kafkaEvent([{ key: 'big', value }]), runtime);
    const dead = (await deadLetters()).filter((m) => m.key === 'big');

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.headers[DLQ_HEADERS.reason]).toBe('value-too-large');
    expect(await runtime.store.readReport(group, 'a')).toBeUndefined();
  });

  it('item 7: a record the mapping delivers in an odd shape is dead-lettered alone; the rest of the batch is applied', async () => {
    // Prepare
    const group = newGroupId();
    const event = kafkaEvent([
      { value: create(group, ['a']) },
      { key: 'odd', value: 'x' },
      { value: done(group, 'a') },
    ]);
    const records = Object.values(event.records)[0] as Record<string, unknown>[];
    (records[1] as Record<string, unknown>).value = 42; // not base64 text
    (records[2] as Record<string, unknown>).headers = [{ empty: null }]; // Kafka allows a header without value

    // Act
    const response = await processKafkaEvent(event, runtime);
    const dead = (await deadLetters()).filter((m) => m.key === 'odd');
    const state = await runtime.store.getState(group);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.headers[DLQ_HEADERS.reason]).toBe('invalid-field');
    expect(state?.status).toBe('succeeded');
  });

  it('item 9: a Create whose id still has a state without definition (TTL lagging) is dead-lettered, not retried forever', async () => {
    // Prepare: an earlier group's state, its definition already removed by TTL
    const group = newGroupId();
    const client = dynamoClient();
    await client.send(
      new PutItemCommand({
        TableName: services().tableName,
        Item: {
          pk: { S: keys.state(group).pk },
          sk: { S: keys.state(group).sk },
          kind: { S: 'state' },
          gid: { S: group },
          status: { S: 'succeeded' },
          createdMs: { N: '1' },
          deadlineMs: { N: '2' },
          ttlSeconds: { N: '1' },
          shards: { N: '1' },
          published: { BOOL: true },
          expiresAt: { N: '10' },
        },
      }),
    );
    client.destroy();

    // Act
    const response = await processKafkaEvent(
      kafkaEvent([{ key: 'reuse', value: create(group, ['a']) }]),
      runtime,
    );
    const dead = (await deadLetters()).filter((m) => m.key === 'reuse');

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.headers[DLQ_HEADERS.reason]).toBe('create-conflict');
  });
});

/** Issue 17 item 11: reports for a group that does not exist yet are bounded, per group and in bytes. */
describe('early reports are bounded (issue 17 item 11)', () => {
  let runtime: Runtime & { close(): Promise<void> };
  const deadLetters = async () => drainTopic(runtime.settings.deadLetterTopic);

  beforeAll(async () => {
    runtime = await testRuntime(
      {},
      { earlyReports: { maxPerGroup: 3, maxBytes: LIMITS.maxEarlyReportBytes } },
    );
  });
  afterAll(() => runtime.close());

  it('keeps at most the per-group bound; the rest are dead-lettered too-many-early-reports; a redelivery takes no slot', async () => {
    // Prepare: five members report before the Create; the first is delivered twice
    const group = newGroupId();
    const early = (m: string) => ({ key: `early-${m}`, value: done(group, m) });

    // Act
    const first = await processKafkaEvent(
      kafkaEvent([early('a'), early('a'), early('b'), early('c')]),
      runtime,
    );
    const over = await processKafkaEvent(kafkaEvent([early('d'), early('a'), early('e')]), runtime);
    const dead = (await deadLetters()).filter((m) => m.key?.startsWith('early-'));
    const created = await processKafkaEvent(kafkaEvent([{ value: create(group, ['a', 'b', 'c']) }]), runtime);
    const state = await runtime.store.getState(group);

    // Assess
    expect(first.batchItemFailures).toEqual([]);
    expect(over.batchItemFailures).toEqual([]);
    expect(dead.map((m) => [m.key, m.headers[DLQ_HEADERS.reason]]).sort()).toEqual([
      ['early-d', 'too-many-early-reports'],
      ['early-e', 'too-many-early-reports'],
    ]);
    expect(created.batchItemFailures).toEqual([]);
    expect(state?.status).toBe('succeeded');
  });

  it('keeps an early report only up to its byte bound (original record and parsed report together)', async () => {
    // Prepare: a 60 KB result and a 50 KB unknown field: under the 400 KB item limit, over the early bound
    const group = newGroupId();
    const value = done(group, 'a', { extra: 'x'.repeat(50_000), result: 'r'.repeat(60_000) });

    // Act
    const response = await processKafkaEvent(kafkaEvent([{ key: 'early-big', value }]), runtime);
    const dead = (await deadLetters()).filter((m) => m.key === 'early-big');

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(dead.map((m) => m.headers[DLQ_HEADERS.reason])).toEqual(['value-too-large']);
    expect(await runtime.store.readReport(group, 'a')).toBeUndefined();
  });
});

/** Issue 17 item 2: a decision over a group whose results exceed the outcome limit loads at most the limit. */
describe('bounded decisions (issue 17 item 2)', () => {
  const limit = 8_000;
  let runtime: Runtime & { close(): Promise<void> };

  beforeAll(async () => {
    runtime = await testRuntime({ maxOutcomeBytes: limit });
  });
  afterAll(() => runtime.close());

  it('fails the group Outcome too large with the size of the whole outcome, holding at most the limit of results', async () => {
    // Prepare: 30 members with 1,000-byte results: 30 KB of results against an 8,000-byte limit
    const group = newGroupId();
    const members = Array.from({ length: 30 }, (_, i) => `m${String(i).padStart(2, '0')}`);
    const result = { data: 'x'.repeat(989) };
    await processKafkaEvent(kafkaEvent([{ value: create(group, members) }]), runtime);

    // Act
    const response = await processKafkaEvent(
      kafkaEvent(members.map((m) => ({ value: done(group, m, { result }) }))),
      runtime,
    );
    const outcomes = (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);
    const stored = await runtime.store.getGroup(group);
    if (!stored) throw new Error('group not stored');
    const bounded = await runtime.store.boundedReports(stored, limit);
    const whole = buildOutcome(
      outcomeInput({
        kind: 'success',
        definition: stored.definition,
        createdMs: stored.createdMs,
        deadlineMs: stored.deadlineMs,
        nowMs: Date.now(),
        members: (await runtime.store.boundedReports(stored, Number.POSITIVE_INFINITY)).reports,
      }),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '{}').error).toBe(
      `Outcome too large: ${Buffer.byteLength(whole)} bytes exceed the limit of ${limit} bytes`,
    );
    const loaded = bounded.reports.filter((r) => r.result !== 'null');
    expect(loaded.reduce((sum, r) => sum + Buffer.byteLength(r.result), 0)).toBeLessThanOrEqual(limit);
    expect(loaded.length).toBeLessThan(members.length);
    expect(bounded.unloadedBytes).toBe(
      (members.length - loaded.length) * (JSON.stringify(result).length - 4),
    );
  });
});
