/**
 * The analysis behind `npm run bench:scale` (bench/scale-trace.ts): how a recorded request trace
 * becomes units per key, per-key bounds and the sequential round trips of an invocation. The bench
 * itself needs the local services; this checks its arithmetic on a synthetic trace.
 */
import { describe, expect, it } from 'vitest';
import {
  boundOf,
  busyMs,
  classOf,
  invocationShape,
  keyLoads,
  scaleSectionOf,
  sequentialDepth,
  type TracedCall,
  unitsOf,
  withScaleSection,
} from '../../bench/scale-trace.ts';

const call = (
  inv: number,
  start: number,
  end: number,
  units: TracedCall['units'],
  op = 'UpdateItem',
): TracedCall => ({
  run: 'r',
  inv,
  phase: 'report',
  op,
  start,
  end,
  units,
});

describe('scale model analysis', () => {
  it('counts the requests that ran one after another, not those in flight together', () => {
    // Arrange: a read, then two writes at once, then a commit.
    const calls = [
      { start: 0, end: 10 },
      { start: 10, end: 20 },
      { start: 11, end: 19 },
      { start: 20, end: 30 },
    ];

    // Act / Assess
    expect(sequentialDepth(calls)).toBe(3);
    expect(busyMs(calls)).toBe(30);
    expect(
      busyMs([
        { start: 0, end: 5 },
        { start: 10, end: 12 },
      ]),
    ).toBe(7);
  });

  it('bounds a key by its tighter ceiling: 1,000 WCU/s or 3,000 RCU/s', () => {
    expect(boundOf(1, 1)).toEqual({ bound: 1000, limitedBy: 'write' });
    expect(boundOf(0.1, 2)).toEqual({ bound: 1500, limitedBy: 'read' });
    expect(boundOf(0, 0).limitedBy).toBe('none');
  });

  it('classes keys and keeps the hottest key of each class', () => {
    // Arrange: 100 reports; one page partition takes two pages, another one; STATE takes two commits.
    const state = { key: 'G#4:ABCD', item: 'STATE', wcu: 1, rcu: 0 };
    const page = (k: number, wcu: number) => ({ key: `G#4:ABCD#P1700#${k}`, item: `P#${k}`, wcu, rcu: 0 });
    const calls = [
      call(1, 0, 1, [page(0, 15)]),
      call(1, 1, 2, [state]),
      call(2, 2, 3, [page(0, 15)]),
      call(2, 3, 4, [state]),
      call(3, 4, 5, [page(1, 15)]),
      call(3, 5, 6, [{ key: 'G#4:ABCD', item: 'STATE', wcu: 0, rcu: 1 }], 'GetItem'),
    ];

    // Act
    const loads = keyLoads(calls, 100);

    // Assess
    const pages = loads.find((l) => l.keyClass === 'report page partition G#g#P…#k');
    expect(pages).toMatchObject({ keys: 2, wcuPerUnit: 0.3, bound: 1000 / 0.3 });
    const group = loads.find((l) => l.keyClass === 'group key G#g (STATE, DEF, OUT)');
    expect(group).toMatchObject({ keys: 1, wcuPerUnit: 0.02, rcuPerUnit: 0.01, stateWcuPerUnit: 0.02 });
    expect(loads[0]?.keyClass).toBe('report page partition G#g#P…#k');
    expect(classOf({ key: 'D#3', index: true, wcu: 1, rcu: 0 })).toBe('deadline index shard D#k (GSI)');
    expect(classOf({ key: 'G#4:ABCD#M5', wcu: 1, rcu: 0 })).toBe('member bucket G#g#M<b>');
  });

  it('bills a transaction as AWS does (half of DynamoDB Local) and shares it by item', () => {
    // Arrange: DynamoDB Local reports 4 per item: a small Put and an Update.
    const input = {
      TransactItems: [
        { Put: { Item: { pk: 'G#4:ABCD#M1', sk: 'M#m', raw: 'x' } } },
        { Update: { Key: { pk: 'G#4:ABCD', sk: 'STATE' } } },
      ],
    };
    const output = { ConsumedCapacity: [{ WriteCapacityUnits: 8, Table: { WriteCapacityUnits: 8 } }] };

    // Act
    const units = unitsOf('TransactWriteItems', input, output);

    // Assess
    expect(units).toEqual([
      { key: 'G#4:ABCD#M1', item: 'M#m', wcu: 2, rcu: 0 },
      { key: 'G#4:ABCD', item: 'STATE', wcu: 2, rcu: 0 },
    ]);
  });

  it('counts a failed conditional write at what AWS bills it, and index units on the group shard', () => {
    const failed = unitsOf('UpdateItem', { Key: { pk: { S: 'G#4:ABCD' }, sk: { S: 'STATE' } } }, undefined);
    expect(failed).toEqual([{ key: 'G#4:ABCD', item: 'STATE', wcu: 1, rcu: 0 }]);
    const withIndex = unitsOf(
      'UpdateItem',
      { Key: { pk: 'G#4:ABCD', sk: 'STATE' } },
      {
        ConsumedCapacity: {
          CapacityUnits: 2,
          Table: { CapacityUnits: 1 },
          GlobalSecondaryIndexes: { deadlines: { CapacityUnits: 1 } },
        },
      },
    );
    expect(withIndex[1]).toMatchObject({ index: true, wcu: 1 });
    expect(withIndex[1]?.key).toMatch(/^D#\d+$/);
  });

  it('gives the mean and median shape of invocations', () => {
    const calls = [call(1, 0, 5, []), call(1, 5, 10, []), call(2, 0, 5, [])];
    const shape = invocationShape(calls, [
      { inv: 1, ms: 12, records: 100 },
      { inv: 2, ms: 6, records: 100 },
    ]);
    expect(shape).toMatchObject({
      invocations: 2,
      recordsPerInvocation: 100,
      calls: 1.5,
      depth: 1.5,
      otherMs: 1.5,
    });
  });

  it('replaces its section of RESULTS.md, or appends it, and finds it again', () => {
    const section = '<!-- scale-model:begin x -->\nnew\n<!-- scale-model:end -->';
    const appended = withScaleSection('# Results\n', section);
    expect(appended).toBe(`# Results\n\n${section}\n`);
    const replaced = withScaleSection(appended.replace('new', 'old'), section);
    expect(replaced).toBe(appended);
    expect(scaleSectionOf(replaced)).toBe(section);
    expect(scaleSectionOf('# Results')).toBeUndefined();
  });
});
