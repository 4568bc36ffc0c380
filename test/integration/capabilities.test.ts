/**
 * Protected groups on the real services (DynamoDB Local and Kafka, the collector's handler): attacks
 * 3, 4 and 5 of docs/SECURITY.md. Every record without a valid proof is dead-lettered
 * `unauthenticated` and changes nothing; a copy of a genuine record is the same record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GroupCredentials,
  memberCredentials,
  newProtectedGroup,
  proveByGroup,
  proveReport,
} from '#core/capabilities.ts';
import { deliverRecords, drainTopic, type TestRecord, testRuntime } from '../helpers/collector.ts';

const create = (id: string, expected: string[]) =>
  JSON.stringify({ id, type: 'EventGroupCollectorCreate', expected, ttl: 60 });
const done = (group: string, id: string, result: unknown) =>
  JSON.stringify({ id, type: 'EventGroupCollectorEntityDone', group, result });
const cancel = (group: string) =>
  JSON.stringify({ type: 'EventGroupCollectorCancel', group, message: 'stop' });
const extend = (group: string, ttl: number, nonce: string) =>
  JSON.stringify({ type: 'EventGroupCollectorExtend', group, ttl, nonce });
const headers = (list: { name: string; value: string }[]) =>
  Object.fromEntries(list.map((h) => [h.name, h.value]));

/** A record proven by the group key. */
const byGroup = (g: GroupCredentials, kind: 'create' | 'cancel' | 'extend', value: string): TestRecord => ({
  key: g.groupId,
  value,
  headers: headers(proveByGroup(g, kind, Buffer.from(value))),
});
/** A report proven by the member's credentials (of `as`, by default the member itself). */
const report = (g: GroupCredentials, member: string, result: unknown, as = member): TestRecord => {
  const value = done(g.groupId, member, result);
  return {
    key: g.groupId,
    value,
    headers: headers(proveReport(memberCredentials(g, as), Buffer.from(value))),
  };
};

describe('protected groups on the real services', () => {
  let runtime: Awaited<ReturnType<typeof testRuntime>>;
  const deliver = async (records: TestRecord[], now: () => number = Date.now) =>
    (await deliverRecords(runtime, records, now)).results;
  const outcomesOf = async (group: string) =>
    (await drainTopic(runtime.settings.outcomeTopic))
      .filter((m) => m.key === group)
      .map((m) => JSON.parse(m.value));

  beforeAll(async () => {
    // A small early-report cap, so that filling it takes a few records.
    runtime = await testRuntime({}, { earlyReports: { maxPerGroup: 2, maxBytes: 160 * 1024 } });
  });
  afterAll(() => runtime.close());

  it('attack 3: a report proof on other content is refused; a copy of the genuine report is a duplicate; another member’s credentials cannot report', async () => {
    // Prepare
    const g = newProtectedGroup();
    await deliver([byGroup(g, 'create', create(g.groupId, ['a', 'b']))]);
    const genuine = report(g, 'a', { genuine: true });

    // Act
    const results = await deliver([
      { ...genuine, value: done(g.groupId, 'a', { forged: true }) }, // its proof, other content
      report(g, 'b', 'forged', 'a'), // a's credentials reporting for b
      genuine,
      { ...genuine }, // the same record produced again
    ]);

    // Assess
    expect(
      results.map((r) => (r.status === 'dead' ? r.reason : r.status === 'accepted' ? r.action : r.status)),
    ).toEqual(['unauthenticated', 'unauthenticated', 'reported', 'duplicate-report']);
    const state = await runtime.store.getState(g.groupId);
    expect(state?.status).toBe('open');
  });

  it('attack 3: an Extend copied as a new record is a duplicate; a Cancel’s proof does not make an Extend', async () => {
    // Prepare
    const g = newProtectedGroup();
    const t0 = Date.now();
    await deliver([byGroup(g, 'create', create(g.groupId, ['a']))], () => t0);
    const genuine = byGroup(g, 'extend', extend(g.groupId, 300, 'n-1'));
    const cancelProof = proveByGroup(g, 'cancel', Buffer.from(cancel(g.groupId)));

    // Act
    const first = await deliver([genuine], () => t0 + 1_000);
    const deadlineAfterFirst = (await runtime.store.getState(g.groupId))?.deadlineMs;
    const replay = await deliver([{ ...genuine }], () => t0 + 30_000);
    const swapped = await deliver(
      [{ key: g.groupId, value: extend(g.groupId, 600, 'n-2'), headers: headers(cancelProof) }],
      () => t0 + 31_000,
    );
    const deadlineAfterAll = (await runtime.store.getState(g.groupId))?.deadlineMs;

    // Assess
    expect(first[0]).toMatchObject({ status: 'accepted', action: 'extended' });
    // Found stored under its proof: a new record would have moved the deadline to t0 + 30 s + 300 s.
    expect(replay[0]).toMatchObject({ status: 'accepted' });
    expect(swapped[0]).toMatchObject({ status: 'dead', reason: 'unauthenticated' });
    expect(deadlineAfterFirst).toBe(t0 + 1_000 + 300_000);
    expect(deadlineAfterAll).toBe(deadlineAfterFirst);
  });

  it('attack 4: unverified early reports and Cancels take no slot and count toward no cap; the genuine ones decide', async () => {
    // Prepare: before the Create, a stranger's reports (no proof, a proof of its own group), a fake Cancel
    const g = newProtectedGroup();
    const stranger = newProtectedGroup();
    const strangers: TestRecord[] = [
      { key: g.groupId, value: done(g.groupId, 'a', 'squatted') },
      report({ ...stranger, groupId: g.groupId }, 'a', 'squatted'),
      report({ ...stranger, groupId: g.groupId }, 'b', 'squatted'),
      {
        key: g.groupId,
        value: cancel(g.groupId),
        headers: headers(proveByGroup(stranger, 'cancel', Buffer.from(cancel(g.groupId)))),
      },
    ];

    // Act
    const refused = await deliver(strangers);
    const early = await deliver([report(g, 'a', 'genuine-a'), report(g, 'b', 'genuine-b')]);
    const created = await deliver([byGroup(g, 'create', create(g.groupId, ['a', 'b']))]);
    const outcomes = await outcomesOf(g.groupId);

    // Assess: with a cap of 2 early reports, both genuine ones were kept
    expect(refused.map((r) => r.status === 'dead' && r.reason)).toEqual(Array(4).fill('unauthenticated'));
    expect(early.map((r) => r.status === 'accepted' && r.action)).toEqual(['early', 'early']);
    expect(created[0]).toMatchObject({ status: 'accepted', action: 'created' });
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({
      type: 'EventGroupCollectorSuccess',
      results: { a: 'genuine-a', b: 'genuine-b' },
    });
  });

  it('attack 5: a Create of a protected id by another key, or with no proof, is refused; the owner’s Create then succeeds', async () => {
    // Prepare: the id is known (early reports carry it)
    const g = newProtectedGroup();
    const attacker = newProtectedGroup();
    const captured = create(g.groupId, ['a']);

    // Act
    const results = await deliver([
      { key: g.groupId, value: captured },
      {
        key: g.groupId,
        value: captured,
        headers: headers(proveByGroup({ ...attacker, groupId: g.groupId }, 'create', Buffer.from(captured))),
      },
      byGroup(g, 'create', create(g.groupId, ['a', 'b'])),
    ]);

    // Assess
    expect(
      results.map((r) => (r.status === 'dead' ? r.reason : r.status === 'accepted' && r.action)),
    ).toEqual(['unauthenticated', 'unauthenticated', 'created']);
    expect((await runtime.store.getGroup(g.groupId))?.definition.expected).toEqual(['a', 'b']);
  });
});
