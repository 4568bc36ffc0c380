import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';

/**
 * Write capacity per EntityDone, from ReturnConsumedCapacity on DynamoDB Local, members reporting in
 * a shuffled order (as real members finish). A small group's reports share its one item; a larger
 * group's reports of one batch share a page and a commit, so a larger group costs no more per report.
 */
describe('write cost per report', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(() => runtime.close());

  async function measure(members: number, resultBytes: number) {
    const group = newGroupId();
    const ids = Array.from({ length: members }, (_, i) => `member-${String(i).padStart(5, '0')}-${group}`);
    const result = { data: 'x'.repeat(resultBytes - 11) }; // {"data":"…"} is resultBytes long
    await processKafkaEvent(
      kafkaEvent([
        { value: JSON.stringify({ id: group, type: 'EventGroupCollectorCreate', expected: ids, ttl: 600 }) },
      ]),
      runtime,
    );
    const report = (id: string) => ({
      value: JSON.stringify({ id, type: 'EventGroupCollectorEntityDone', group, result }),
    });
    const order = ids
      .slice(0, members - 1)
      .map((id, i) => ({ id, key: (i * 7919) % 1009 }))
      .sort((a, b) => a.key - b.key)
      .map((x) => x.id);
    const before = runtime.store.meter.write;
    for (let i = 0; i < order.length; i += 100) {
      await processKafkaEvent(kafkaEvent(order.slice(i, i + 100).map(report)), runtime);
    }
    const reports = runtime.store.meter.write - before;
    const beforeLast = runtime.store.meter.write;
    await processKafkaEvent(kafkaEvent([report(ids[members - 1] as string)]), runtime);
    const last = runtime.store.meter.write - beforeLast;
    const state = await runtime.store.getState(group);
    return { perReport: reports / (members - 1), lastWithDecision: last, status: state?.status };
  }

  it('stays at or under 4 WCU per report with 1 KB results, for 3 and for 1,000 members', async () => {
    // Act
    const small = await measure(3, 1000);
    const large = await measure(1000, 900);
    const tiny = await measure(3, 100);
    console.log(
      `[write-cost] WCU per report: 3 members/1 KB ${small.perReport}, 1000 members/900 B ${large.perReport}, 3 members/100 B ${tiny.perReport}; ` +
        `last report incl. decision: ${small.lastWithDecision} / ${large.lastWithDecision} / ${tiny.lastWithDecision}`,
    );

    // Assess
    expect(small.status).toBe('succeeded');
    expect(large.status).toBe('succeeded');
    expect(small.perReport).toBeGreaterThan(0);
    expect(small.perReport).toBeLessThanOrEqual(4);
    expect(large.perReport).toBeLessThanOrEqual(4);
    expect(large.perReport).toBeLessThanOrEqual(small.perReport);
  });
});
