import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '#shared/config.ts';
import { keys } from '#store/layout.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { processStreamEvent } from '../../functions/timeouts/handler.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime, ttlRemoval } from '../helpers/collector.ts';
import { dynamoClient, services } from '../helpers/services.ts';

/**
 * Issue 21: a group of at most 8 members lives in one item (LAYOUT.single). Its Create is one Put;
 * a report is one conditional UpdateItem of STATE that stores and counts it; reports of one group
 * handled at once share that write; the decision's condition names the report count it was built from.
 */
describe('small groups in one item', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  const writes: { command: string; sk: string }[] = [];
  beforeAll(async () => {
    runtime = await testRuntime();
    runtime.store.doc.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: { sk?: string }; Item?: { sk?: string } };
        const command = String(context.commandName);
        if (/Put|Update|Transact/.test(command)) {
          writes.push({ command, sk: input.Key?.sk ?? input.Item?.sk ?? '' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'recordWrites' },
    );
  });
  afterAll(() => runtime.close());

  const create = (group: string, expected: string[]) => ({
    value: JSON.stringify({ id: group, type: EVENT_TYPES.create, expected, ttl: 600 }),
  });
  const done = (group: string, id: string, extra: Record<string, unknown> = { result: { id } }) => ({
    value: JSON.stringify({ id, type: EVENT_TYPES.done, group, ...extra }),
  });
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

  it('a Create is one write of STATE; the reports of one batch share one write; the group succeeds with one publish', async () => {
    // Prepare
    const group = newGroupId();
    const from = writes.length;

    // Act
    await processKafkaEvent(kafkaEvent([create(group, ['a', 'b', 'c'])]), runtime);
    const afterCreate = writes.slice(from);
    const before = writes.length;
    await processKafkaEvent(kafkaEvent([done(group, 'a'), done(group, 'b'), done(group, 'c')]), runtime);
    const afterReports = writes.slice(before);
    const outcomes = await outcomesOf(group);

    // Assess: Create = one conditional write of STATE; reports = one STATE update, then the outcome, the decision, the published mark
    expect(afterCreate).toEqual([{ command: 'UpdateItemCommand', sk: 'STATE' }]);
    expect(afterReports.filter((w) => w.sk === 'STATE' && w.command === 'UpdateItemCommand')).toHaveLength(3);
    expect(afterReports.filter((w) => w.sk.startsWith('M#') || w.sk === 'C')).toEqual([]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({
      type: EVENT_TYPES.success,
      results: { a: { id: 'a' }, b: { id: 'b' }, c: { id: 'c' } },
    });
  });

  it('member ids that are no safe map keys (`__proto__`, `constructor`) are stored and reported', async () => {
    // Prepare
    const group = newGroupId();
    await processKafkaEvent(kafkaEvent([create(group, ['__proto__', 'constructor'])]), runtime);

    // Act
    const response = await processKafkaEvent(
      kafkaEvent([done(group, '__proto__'), done(group, 'constructor')]),
      runtime,
    );
    const outcomes = await outcomesOf(group);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(outcomes).toHaveLength(1);
    const results = JSON.parse(outcomes[0]?.value ?? '{}').results;
    expect(Object.getOwnPropertyNames(results).sort()).toEqual(['__proto__', 'constructor']);
  });

  it('a large result is kept in its member item and referenced; the outcome carries it', async () => {
    // Prepare
    const group = newGroupId();
    const big = { text: 'x'.repeat(5_000) };
    await processKafkaEvent(kafkaEvent([create(group, ['a', 'b'])]), runtime);
    const from = writes.length;

    // Act
    await processKafkaEvent(kafkaEvent([done(group, 'a', { result: big })]), runtime);
    const stored = writes.slice(from);
    await processKafkaEvent(kafkaEvent([done(group, 'b')]), runtime);
    const outcomes = await outcomesOf(group);

    // Assess
    expect(stored.map((w) => w.sk)).toEqual(['M#a', 'STATE']);
    expect(JSON.parse(outcomes[0]?.value ?? '{}').results).toEqual({ a: big, b: { id: 'b' } });
  });

  it('reports stored at once on both sides of the deadline: the earlier counts, the later finds it past', async () => {
    // Prepare
    const group = newGroupId();
    const t0 = Date.now();
    await processKafkaEvent(kafkaEvent([create(group, ['a', 'b', 'c'])]), runtime, () => t0);
    const stored = await runtime.store.getGroup(group);
    if (!stored) throw new Error('group not created');
    const deadline = stored.deadlineMs;
    const report = (member: string) => ({ group, member, result: '1', error: undefined });

    // Act: both queued before the first write starts, so they would share it
    const [before, after] = await Promise.all([
      runtime.store.recordSingle(stored, report('a'), deadline - 1, 'test/a', deadline - 1),
      runtime.store.recordSingle(stored, report('b'), deadline, 'test/b', deadline),
    ]);

    // Assess
    expect(before.status).toBe('new');
    expect(after.status).toBe('closed');
    expect(after.status === 'closed' && after.state?.status).toBe('open');
    const state = await runtime.store.getState(group);
    expect(state?.single?.reports.map((r) => r.member)).toEqual(['a']);
  });

  it('a redelivered batch changes nothing: duplicates, one outcome', async () => {
    // Prepare
    const group = newGroupId();
    await processKafkaEvent(kafkaEvent([create(group, ['a', 'b'])]), runtime);
    const batch = kafkaEvent([done(group, 'a'), done(group, 'a', { result: { other: true } })]);

    // Act
    const first = await processKafkaEvent(batch, runtime);
    const again = await processKafkaEvent(batch, runtime);
    await processKafkaEvent(kafkaEvent([done(group, 'b')]), runtime);
    const outcomes = await outcomesOf(group);

    // Assess: the first report of a wins, in the first delivery and the redelivery alike
    expect(first.batchItemFailures).toEqual([]);
    expect(again.batchItemFailures).toEqual([]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '{}').results).toEqual({ a: { id: 'a' }, b: { id: 'b' } });
  });

  it('a Create redelivered after TTL removed its open group, before the stream handler ran: the first group times out with its reports, once', async () => {
    // Prepare: a group of two with a 1 s ttl; a reports; the deadline passes; TTL removes the open STATE
    const group = newGroupId();
    const createRecord = {
      value: JSON.stringify({ id: group, type: EVENT_TYPES.create, expected: ['a', 'b'], ttl: 1 }),
      offset: 7,
    };
    await processKafkaEvent(kafkaEvent([createRecord]), runtime);
    await processKafkaEvent(kafkaEvent([done(group, 'a')]), runtime);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const key = { pk: { S: keys.state(group).pk }, sk: { S: keys.state(group).sk } };
    const removed = await dynamoClient().send(
      new GetItemCommand({ TableName: services().tableName, Key: key, ConsistentRead: true }),
    );
    await dynamoClient().send(new DeleteItemCommand({ TableName: services().tableName, Key: key }));

    // Act: the Create's record is delivered again (a mapping retry) before the stream handler sees the removal
    await processKafkaEvent(kafkaEvent([createRecord]), runtime);
    const failures = await processStreamEvent(ttlRemoval(removed.Item ?? {}), runtime);
    const late = await processKafkaEvent(kafkaEvent([done(group, 'b')]), runtime);
    const outcomes = await outcomesOf(group);

    // Assess: the first group's timeout, with a's report; the group the redelivery started is gone with it
    expect(failures.batchItemFailures).toEqual([]);
    expect(late.batchItemFailures).toEqual([]);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({
      type: EVENT_TYPES.failure,
      reason: 'timeout',
      results: { a: { id: 'a' } },
      missing: ['b'],
    });
    expect((await runtime.store.getState(group))?.status).not.toBe('open');
  });
});
