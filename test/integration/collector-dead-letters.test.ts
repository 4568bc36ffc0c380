import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS, LIMITS } from '#shared/config.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';

const json = (value: unknown) => JSON.stringify(value);
const group = newGroupId();
const conflictGroup = newGroupId();
const create = (id: string, expected: unknown, extra: Record<string, unknown> = {}) =>
  json({ id, type: 'EventGroupCollectorCreate', expected, ...extra });
const done = (g: string, id: string, extra: Record<string, unknown> = {}) =>
  json({ id, type: 'EventGroupCollectorEntityDone', group: g, ...extra });

/** One record per dead-letter reason; `setup` records are applied first and must not be dead-lettered. */
const setup = [create(group, ['a', 'b'], { ttl: 300 }), create(conflictGroup, ['a'], { ttl: 300 })];
const cases: [reason: string, value: string | Buffer | null][] = [
  ['malformed-json', '{"id":"x","type":'],
  ['malformed-json', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
  ['not-an-object', '[1,2,3]'],
  ['not-an-object', '"just a string"'],
  ['unknown-type', json({ id: 'x', type: 'SomethingElse' })],
  ['invalid-field', json({ id: 'x' })],
  ['invalid-field', json({ id: 7, type: 'EventGroupCollectorCreate', expected: ['a'] })],
  ['invalid-field', json({ id: 'x', type: 'EventGroupCollectorEntityDone' })],
  ['invalid-field', done(group, 'a', { error: '' })],
  ['invalid-field', create('x', ['a'], { ttl: 1.5 })],
  ['empty-expected', create('x', [])],
  ['duplicate-expected', create('x', ['a', 'a'])],
  [
    'too-many-members',
    create(
      'x',
      Array.from({ length: LIMITS.maxMembers + 1 }, (_, i) => `m${i}`),
    ),
  ],
  ['id-too-long', create('x'.repeat(LIMITS.maxIdBytes + 1), ['a'])],
  ['ttl-out-of-range', create('x', ['a'], { ttl: LIMITS.maxTtlSeconds + 1 })],
  ['payload-too-large', create('x', ['a'], { payload: 'p'.repeat(LIMITS.maxPayloadBytes + 1) })],
  ['result-too-large', done(group, 'a', { result: 'r'.repeat(LIMITS.maxResultBytes + 1) })],
  ['value-too-large', Buffer.alloc(LIMITS.maxInputBytes + 1, 0x20)],
  ['empty-value', null],
  ['member-not-expected', done(group, 'stranger', { result: 1 })],
  ['create-conflict', create(conflictGroup, ['a', 'b'], { ttl: 300 })],
];

describe('every dead-letter reason, on the real services', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(() => runtime.close());

  it('dead-letters each bad record with its reason and original bytes, and the batch still succeeds', async () => {
    // Prepare
    const records = [
      ...setup.map((value, i) => ({ partition: 0, offset: i, value })),
      ...cases.map(([, value], i) => ({ partition: 1, offset: 1000 + i, key: `case-${i}`, value })),
      { partition: 1, offset: 5000, value: done(group, 'a', { result: 'fine' }) },
    ];

    // Act
    const response = await processKafkaEvent(kafkaEvent(records), runtime);
    const dead = await drainTopic(runtime.settings.deadLetterTopic);
    const state = await runtime.store.getState(group);
    const member = await runtime.store.getMember(group, 'a');

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(dead).toHaveLength(cases.length);
    cases.forEach(([reason, value], i) => {
      const letter = dead.find((m) => m.key === `case-${i}`);
      expect(letter, `case ${i} (${reason})`).toBeDefined();
      expect(letter?.headers[DLQ_HEADERS.reason], `case ${i}`).toBe(reason);
      expect(letter?.headers[DLQ_HEADERS.message]?.length).toBeGreaterThan(0);
      expect(letter?.headers[DLQ_HEADERS.offset]).toBe(String(1000 + i));
      expect(letter?.headers[DLQ_HEADERS.partition]).toBe('1');
      if (value !== null && !Buffer.isBuffer(value)) expect(letter?.value).toBe(value);
    });
    expect(state?.status).toBe('open');
    expect(member?.result).toBe('"fine"');
  });
});
