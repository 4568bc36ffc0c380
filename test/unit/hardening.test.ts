import { describe, expect, it } from 'vitest';
import { DeadLetterError, DLQ_REASONS } from '#core/errors.ts';
import { decodeValue } from '#core/events.ts';
import { buildOutcome } from '#core/outcome.ts';
import { ConfigurationError, DLQ_HEADERS, LIMITS, loadSettings } from '#shared/config.ts';
import { recordsOf } from '../../functions/collector/kafka-event.ts';
import { deadLetterMessage } from '../../functions/service/dead-letters.ts';

/** Issue 17: inputs that used to block a partition or slip the contract, each decided without I/O. */
describe('hardening (issue 17)', () => {
  it('item 11: a group keeps at most as many early reports as it may have members, and a valid early report fits its byte bound', () => {
    // Assess: the largest valid report (result and ids at their limits) kept twice (raw and parsed) fits
    const largestValidReport = LIMITS.maxResultBytes + 3 * LIMITS.maxIdBytes + 200;
    expect(LIMITS.maxEarlyReportsPerGroup).toBe(LIMITS.maxMembers);
    expect(2 * largestValidReport).toBeLessThan(LIMITS.maxEarlyReportBytes);
  });

  it('item 8: an outcome limit above what one DynamoDB transaction holds is refused when the settings load', () => {
    // Act / Assess
    expect(() => loadSettings({ COLLECTOR_MAX_OUTCOME_BYTES: '4000000' })).toThrow(ConfigurationError);
    expect(
      loadSettings({ COLLECTOR_MAX_OUTCOME_BYTES: String(LIMITS.maxOutcomeBytesCeiling) }).maxOutcomeBytes,
    ).toBe(LIMITS.maxOutcomeBytesCeiling);
  });

  it('item 12: the collector ignores its own large outcome read back from the shared topic instead of dead-lettering it', () => {
    // Prepare: a legal success of 1,000 members with 400-byte results (about 419 KB, over the input limit)
    const results = Array.from({ length: 1_000 }, (_, i): [string, string] => [
      `m${i}`,
      JSON.stringify('r'.repeat(400)),
    ]);
    const text = buildOutcome({
      kind: 'success',
      groupId: 'g',
      createdMs: 0,
      resolvedMs: 1,
      results,
      payload: undefined,
    });
    const value = Buffer.from(text);

    // Act
    const decoded = decodeValue(value, { maxTtlSeconds: LIMITS.maxTtlSeconds });

    // Assess
    expect(value.length).toBeGreaterThan(LIMITS.maxInputBytes);
    expect(decoded).toEqual({ kind: 'ignored', reason: 'outcome-type', type: 'EventGroupCollectorSuccess' });
  });

  it('item 13: a dead letter keeps repeated header names and a header named __proto__, in order', () => {
    // Prepare
    const raw = {
      key: Buffer.from('k'),
      value: Buffer.from('{'),
      headers: [
        { name: 'trace', value: Buffer.from('1') },
        { name: '__proto__', value: Buffer.from('p') },
        { name: 'trace', value: Buffer.from('2') },
      ],
      origin: { topic: 't', partition: 1, offset: 7 },
    };

    // Act
    const message = deadLetterMessage(raw, new DeadLetterError(DLQ_REASONS.malformedJson, 'bad'), 'dlq');

    // Assess
    expect(message.headers?.slice(0, 3).map((h) => [h.name, Buffer.from(h.value).toString()])).toEqual([
      ['trace', '1'],
      ['__proto__', 'p'],
      ['trace', '2'],
    ]);
    expect(message.headers?.find((h) => h.name === DLQ_HEADERS.offset)?.value).toBe('7');
  });

  it('item 6: a dead letter too large to publish again keeps the first bytes, with the original size and SHA-256', () => {
    // Prepare: a record near the broker's 1 MiB message limit
    const value = Buffer.alloc(1_000_000, 0x61);
    const raw = {
      key: undefined,
      value,
      headers: [{ name: 'h', value: Buffer.from('v') }],
      origin: undefined,
    };

    // Act
    const message = deadLetterMessage(
      raw,
      new DeadLetterError(DLQ_REASONS.valueTooLarge, 'too large'),
      'dlq',
    );
    const header = (name: string) => message.headers?.find((h) => h.name === name)?.value;

    // Assess
    expect(message.value.length).toBe(LIMITS.deadLetterKeepBytes);
    expect(header(DLQ_HEADERS.reason)).toBe('value-too-large');
    expect(header(DLQ_HEADERS.truncated)).toBe('true');
    expect(header(DLQ_HEADERS.originalSize)).toBe('1000000');
    expect(header(DLQ_HEADERS.originalSha256)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('item 7: one oddly shaped record does not fail the batch: a header without value is read, a broken record is marked', () => {
    // Prepare: a header whose value is null (Kafka allows it) and a record whose value is not base64 text
    const event = {
      eventSource: 'aws:kafka',
      records: {
        't-0': [
          {
            topic: 't',
            partition: 0,
            offset: 1,
            value: Buffer.from('{}').toString('base64'),
            headers: [{ h: null }],
          },
          { topic: 't', partition: 0, offset: 2, value: 42, headers: [] },
          { topic: 't', partition: 0, offset: 3, value: Buffer.from('{}').toString('base64') },
        ],
      },
    };

    // Act
    const records = recordsOf(event);

    // Assess
    expect(records.map((r) => r.origin.offset)).toEqual([1, 2, 3]);
    expect(records[0]?.headers).toEqual([{ name: 'h', value: Buffer.alloc(0) }]);
    expect(records[0]?.malformed).toBeUndefined();
    expect(records[1]?.malformed).toMatch(/value/);
    expect(records[2]?.malformed).toBeUndefined();
  });
});
