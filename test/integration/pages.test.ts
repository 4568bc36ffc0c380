import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '#shared/config.ts';
import { keys } from '#store/layout.ts';
import {
  deliverRecords,
  drainTopic,
  newGroupId,
  type TestRecord,
  testRuntime,
} from '../helpers/collector.ts';
import { pauses } from '../helpers/pauses.ts';

/**
 * The report pages of a larger group (functions/store/pages.ts) under faults and interleavings, on the
 * real services: a lost reply, a writer that dies between its page and its commit, and reports that
 * come while the early reports are being adopted (DESIGN.md "Invariants" 1, 4, 6).
 */
const MEMBERS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
const create = (group: string, expected = MEMBERS) =>
  JSON.stringify({ id: group, type: EVENT_TYPES.create, expected, ttl: 600 });
const done = (group: string, id: string, extra: Record<string, unknown> = { result: { by: id } }) =>
  JSON.stringify({ id, type: EVENT_TYPES.done, group, ...extra });

/** A commit of STATE: a page's, or a lone small report's into STATE's tail. */
const isCommit = (command: string, input: Record<string, unknown>) =>
  command === 'UpdateItemCommand' &&
  /^SET (pages = :next|tail = list_append)/.test(String(input.UpdateExpression));
const isPagePut = (command: string, input: Record<string, unknown>) =>
  command === 'PutItemCommand' && String((input.Item as { sk?: string } | undefined)?.sk).startsWith('P#');

describe('report pages on the real services', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  let hold: ReturnType<typeof pauses>;
  let offset = 700_000_000;
  const record = (value: string, partition = 0): TestRecord => ({ partition, offset: offset++, value });
  const deliver = (records: TestRecord[]) =>
    deliverRecords(runtime, records).then(
      (r) => ({ ...r, failed: false }),
      () => ({ failures: { batchItemFailures: [] }, results: [], failed: true }),
    );
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic)).filter((m) => m.key === group);

  beforeAll(async () => {
    runtime = await testRuntime({ earlyReportWaitSeconds: 60 });
    hold = pauses(runtime.store.doc);
  });
  afterAll(() => runtime.close());

  it('a commit applied whose reply was lost: the redelivered report is a duplicate entry that never counts twice', async () => {
    // Prepare
    const group = newGroupId();
    await deliver([record(create(group))]);
    hold.fail(isCommit, true);
    const aRecord = record(done(group, 'a'), 1);

    // Act: a's commit applies but its reply is lost; the record is redelivered; then the others
    const first = await deliver([aRecord]);
    const again = await deliver([aRecord]);
    const rest = await deliver(MEMBERS.slice(1, -1).map((m) => record(done(group, m), 1)));
    const beforeLast = await runtime.store.getState(group);
    await deliver([record(done(group, 'i'), 1)]);
    const outcomes = await outcomesOf(group);
    const state = await runtime.store.getState(group);

    // Assess: counted 10 entries for 9 members, still open before i, one success with 9 results
    expect(first.failed).toBe(true);
    expect(again.failed).toBe(false);
    expect(rest.failed).toBe(false);
    expect(beforeLast?.status).toBe('open');
    expect(beforeLast?.reported).toBe(9);
    expect(state?.status).toBe('succeeded');
    expect(outcomes).toHaveLength(1);
    expect(Object.keys(JSON.parse(outcomes[0]?.value ?? '{}').results).sort()).toEqual(MEMBERS);
  });

  it('a writer that dies between its page and its commit: the page is not a report until committed; its redelivery counts it once, after what was committed meanwhile', async () => {
    // Prepare: a's page is written, its commit fails (the invocation dies)
    const group = newGroupId();
    await deliver([record(create(group))]);
    hold.fail(isCommit);
    // An error too long for STATE's tail: a's report goes into a page of its own.
    const aRecord = record(done(group, 'a', { error: `a failed first ${'!'.repeat(200)}` }), 1);
    const died = await deliver([aRecord]);
    const orphaned = await runtime.store.getState(group);

    // Act: b reports (committed into the tail), then a's record is redelivered
    await deliver([record(done(group, 'b'), 2)]);
    const beforeRedelivery = await outcomesOf(group);
    const again = await deliver([aRecord]);
    const outcomes = await outcomesOf(group);
    const state = await runtime.store.getState(group);

    // Assess: nothing counted a's orphaned page; its redelivery did, once (2 entries: b, a); a's error decided
    expect(died.failed).toBe(true);
    expect(orphaned?.pages).toBe(0);
    expect(beforeRedelivery).toEqual([]);
    expect(again.failed).toBe(false);
    expect(state?.reported).toBe(2);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({
      reason: 'member-error',
      entity: 'a',
      error: `a failed first ${'!'.repeat(200)}`,
    });
  });

  it('a report that comes while early reports are adopted waits for them: the early first report stays first', async () => {
    // Prepare: a's first report (an error) is kept before the Create; the Create is held before it commits it
    const group = newGroupId();
    await deliver([record(done(group, 'a', { error: 'early and first' }), 1)]);
    const adoption = hold.hold('before', isPagePut);
    const creating = deliver([record(create(group), 2)]);
    await adoption.reached;

    // Act: a's second report (a success) while the adoption is pending, then the adoption finishes
    const second = await deliver([record(done(group, 'a', { result: { second: true } }), 1)]);
    adoption.release();
    await creating;
    await deliver(MEMBERS.slice(1).map((m) => record(done(group, m), 1)));
    const outcomes = await outcomesOf(group);

    // Assess: the second report was refused for now (retried by the mapping); a's early error decided
    expect(second.failed).toBe(true);
    expect(outcomes).toHaveLength(1);
    expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({ entity: 'a', error: 'early and first' });
  });

  it('the outcome is not stored: a copy published again is built from the committed pages, byte for byte the same', async () => {
    // Prepare: 3 reports, then b's error decides; its publish goes out but the mark that records it fails
    const group = newGroupId();
    await deliver([record(create(group))]);
    await deliver(
      ['a', 'c', 'd'].map((m) => record(done(group, m, { result: { by: m, pad: 'x'.repeat(300) } }), 1)),
    );
    hold.fail(
      (command, input) =>
        command === 'UpdateItemCommand' && String(input.UpdateExpression).startsWith('SET published'),
    );
    const bRecord = record(done(group, 'b', { error: 'b broke' }), 1);
    const first = await deliver([bRecord]);

    // Act: the redelivered record finds the group decided and unpublished: it publishes the outcome
    const again = await deliver([bRecord]);
    const outcomes = await outcomesOf(group);
    const state = await runtime.store.getState(group);
    const items = await runtime.store.doc.send(
      new QueryCommand({
        TableName: runtime.store.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :out)',
        ExpressionAttributeValues: { ':pk': keys.state(group).pk, ':out': 'OUT#' },
      }),
    );

    // Assess: two copies, identical bytes, a member failure naming b; no outcome bytes stored
    expect(first.failed).toBe(true);
    expect(again.failed).toBe(false);
    expect(outcomes).toHaveLength(2);
    expect(outcomes[1]?.value).toBe(outcomes[0]?.value);
    expect(JSON.parse(outcomes[0]?.value ?? '{}')).toMatchObject({
      entity: 'b',
      error: 'b broke',
      reason: 'member-error',
    });
    expect(state?.published).toBe(true);
    expect(state?.outcomeInput).toMatchObject({ kind: 'member-failure', entity: 'b', error: 'b broke' });
    expect(state?.outcomeParts).toBe(0);
    expect(items.Items ?? []).toEqual([]);
  });
});
