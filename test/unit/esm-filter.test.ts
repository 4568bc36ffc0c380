import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FilterPatternError, matchesAnyFilter, matchesPattern } from '#local/esm/index.ts';
import { TTL_STREAM_FILTERS } from '#store/layout.ts';

const events = join(import.meta.dirname, '..', '..', 'events');
const readJson = (path: string) => JSON.parse(readFileSync(join(events, path), 'utf8'));

/** An open group's STATE item removed by TTL, as Lambda delivers it. */
const ttlRemoval = () => readJson('timeouts/ttl-remove-open-group.json').Records[0];

describe('Lambda event filtering (local/esm/filter.ts)', () => {
  describe('TTL_STREAM_FILTERS, as the stack and the stream emulator use them', () => {
    it('match the TTL deletion of an open group STATE item', () => {
      expect(matchesAnyFilter(ttlRemoval(), TTL_STREAM_FILTERS)).toBe(true);
    });

    it('match the TTL deletion of an early member report', () => {
      // Prepare
      const record = ttlRemoval();
      record.dynamodb.OldImage = { kind: { S: 'member' }, early: { BOOL: true } };

      // Act
      const matched = matchesAnyFilter(record, TTL_STREAM_FILTERS);

      // Assess
      expect(matched).toBe(true);
    });

    it('match the TTL deletion of an early Extend (issue 20), and not of an applied Extend', () => {
      // Prepare: the early item as keepEarlyExtend stores it; an applied one loses its early flag
      const early = ttlRemoval();
      early.dynamodb.OldImage = {
        pk: { S: 'G#1:g' },
        sk: { S: 'CMD#extend#eventbus-collector:0:7' },
        kind: { S: 'cmd' },
        gid: { S: 'g' },
        ttlSeconds: { N: '5' },
        early: { BOOL: true },
      };
      const applied = ttlRemoval();
      applied.dynamodb.OldImage = {
        pk: { S: 'G#1:g' },
        sk: { S: 'CMD#extend#eventbus-collector:0:7' },
        kind: { S: 'cmd' },
        gid: { S: 'g' },
      };

      // Act
      const matched = [early, applied].map((r) => matchesAnyFilter(r, TTL_STREAM_FILTERS));

      // Assess
      expect(matched).toEqual([true, false]);
    });

    it('match the TTL deletion of an early Cancel (issue 20), and not of a command item without early', () => {
      // Prepare
      const early = ttlRemoval();
      early.dynamodb.OldImage = { kind: { S: 'cmd' }, early: { BOOL: true } };
      const other = ttlRemoval();
      other.dynamodb.OldImage = { kind: { S: 'cmd' } };

      // Act
      const matched = [early, other].map((r) => matchesAnyFilter(r, TTL_STREAM_FILTERS));

      // Assess
      expect(matched).toEqual([true, false]);
    });

    it('drop an ordinary delete (no userIdentity)', () => {
      const { userIdentity: _, ...record } = ttlRemoval();
      expect(matchesAnyFilter(record, TTL_STREAM_FILTERS)).toBe(false);
    });

    it('drop the PascalCase userIdentity of the Streams API (the emulator must convert it)', () => {
      const record = {
        ...ttlRemoval(),
        userIdentity: { Type: 'Service', PrincipalId: 'dynamodb.amazonaws.com' },
      };
      expect(matchesAnyFilter(record, TTL_STREAM_FILTERS)).toBe(false);
    });

    it('drop the TTL deletion of a decided group and of other item kinds', () => {
      // Prepare
      const decided = ttlRemoval();
      decided.dynamodb.OldImage.status = { S: 'succeeded' };
      (decided.dynamodb.OldImage as Record<string, unknown>).published = { BOOL: true };
      const definition = ttlRemoval();
      definition.dynamodb.OldImage.kind = { S: 'def' };
      const lateMember = ttlRemoval();
      lateMember.dynamodb.OldImage = { kind: { S: 'member' } };

      // Act
      const results = [decided, definition, lateMember].map((r) => matchesAnyFilter(r, TTL_STREAM_FILTERS));

      // Assess
      expect(results).toEqual([false, false, false]);
    });

    it('pass the TTL deletion of a decided group whose outcome was never published (issue 17 item 3)', () => {
      // Prepare
      const unpublished = ttlRemoval();
      unpublished.dynamodb.OldImage.status = { S: 'timedout' };

      // Act / Assess
      expect(matchesAnyFilter(unpublished, TTL_STREAM_FILTERS)).toBe(true);
    });

    it('drop INSERT and MODIFY records', () => {
      const record = { ...ttlRemoval(), eventName: 'MODIFY' };
      expect(matchesAnyFilter(record, TTL_STREAM_FILTERS)).toBe(false);
    });
  });

  describe('pattern semantics', () => {
    const event = {
      source: 'orders',
      detail: { state: 'open', amount: 150, tags: ['a', 'b'], empty: '', nothing: null, nested: { x: 1 } },
    };

    it.each([
      [{ source: ['orders'] }, true],
      [{ source: ['other', 'orders'] }, true],
      [{ source: ['other'] }, false],
      [{ detail: { state: ['open'] } }, true],
      [{ source: ['orders'], detail: { state: ['closed'] } }, false],
      [{ detail: { tags: ['b'] } }, true],
      [{ detail: { tags: ['c'] } }, false],
      [{ detail: { empty: [''] } }, true],
      [{ detail: { nothing: [null] } }, true],
      [{ detail: { missing: [null] } }, false],
      [{ detail: { state: [{ prefix: 'op' }] } }, true],
      [{ detail: { state: [{ prefix: 'cl' }] } }, false],
      [{ detail: { state: [{ suffix: 'en' }] } }, true],
      [{ detail: { state: [{ 'equals-ignore-case': 'OPEN' }] } }, true],
      [{ detail: { state: [{ 'anything-but': ['closed', 'failed'] }] } }, true],
      [{ detail: { state: [{ 'anything-but': 'open' }] } }, false],
      [{ detail: { state: [{ 'anything-but': { prefix: 'op' } }] } }, false],
      [{ detail: { missing: [{ 'anything-but': 'open' }] } }, false],
      [{ detail: { amount: [{ numeric: ['>', 100, '<=', 150] }] } }, true],
      [{ detail: { amount: [{ numeric: ['<', 100] }] } }, false],
      [{ detail: { amount: [{ numeric: ['=', 150] }] } }, true],
      [{ detail: { state: [{ numeric: ['>', 0] }] } }, false],
      [{ detail: { state: [{ exists: true }] } }, true],
      [{ detail: { missing: [{ exists: true }] } }, false],
      [{ detail: { missing: [{ exists: false }] } }, true],
      [{ detail: { state: [{ exists: false }] } }, false],
      [{ detail: { nested: [{ exists: true }] } }, false],
      [{ detail: { nested: { x: [1] } } }, true],
      [{ nowhere: { x: [1] } }, false],
    ])('%j matches: %s', (pattern, expected) => {
      expect(matchesPattern(event, pattern)).toBe(expected);
    });

    it('OR-s several patterns, and no patterns match everything', () => {
      expect(matchesAnyFilter(event, [{ source: ['x'] }, { source: ['orders'] }])).toBe(true);
      expect(matchesAnyFilter(event, [{ source: ['x'] }])).toBe(false);
      expect(matchesAnyFilter(event, [])).toBe(true);
      expect(matchesAnyFilter(event, undefined)).toBe(true);
    });

    it.each([
      [{ source: 'orders' }],
      [{ source: [] }],
      [{ source: [{ wildcard: 'o*' }] }],
      [{ source: [{ prefix: 1 }] }],
      [{ source: [{ numeric: ['>>', 1] }] }],
      [{ source: [{ prefix: 'a', suffix: 'b' }] }],
    ])('rejects the invalid pattern %j', (pattern) => {
      expect(() => matchesPattern(event, pattern as Record<string, unknown>)).toThrow(FilterPatternError);
    });
  });
});
