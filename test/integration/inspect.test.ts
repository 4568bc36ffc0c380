import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk, parseSigningKeySet, type SigningJwk } from '#core/signing.ts';
import type { Runtime } from '#shared/runtime.ts';
import { main } from '../../cli/index.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { formatInspection, inspectGroup } from '../../functions/service/inspect.ts';
import { captured } from '../helpers/cli-io.ts';
import { kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';
import { dynamoClient, services } from '../helpers/services.ts';

const json = (value: unknown) => JSON.stringify(value);
const create = (id: string, expected: string[]) =>
  json({ id, type: 'EventGroupCollectorCreate', expected, ttl: 300, payload: { order: 7 } });
const done = (group: string, id: string) =>
  json({ id, type: 'EventGroupCollectorEntityDone', group, result: { by: id } });
const failed = (group: string, id: string) =>
  json({ id, type: 'EventGroupCollectorEntityDone', group, error: `${id} broke` });

/** Issue 20 item 6: a group as an operator sees it, read from the real table. */
describe('inspectGroup on the real table', () => {
  let runtime: Runtime & { close(): Promise<void> };
  const client = dynamoClient();
  const inspect = (group: string) =>
    inspectGroup(group, { tableName: services().tableName, dynamodb: client });
  const feed = async (...values: string[]) =>
    processKafkaEvent(kafkaEvent(values.map((value) => ({ value }))), runtime);

  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(async () => {
    client.destroy();
    await runtime.close();
  });

  it('an open group: its deadline, who reported and who is missing', async () => {
    // Prepare
    const group = newGroupId();
    await feed(create(group, ['a', 'b', 'c']), done(group, 'b'));

    // Act
    const view = await inspect(group);

    // Assess
    expect(view).toMatchObject({
      status: 'open',
      overdue: false,
      counts: { expected: 3, reported: 1, succeeded: 1, failed: 0, waitingEarly: 0 },
      missing: ['a', 'c'],
      errors: {},
      outcomeTopic: runtime.settings.outcomeTopic,
    });
    expect(Date.parse(view.deadline ?? '') - Date.parse(view.created ?? '')).toBe(300_000);
    expect(view.outcome).toBeUndefined();
    expect(formatInspection(view)).toContain('missing    a, c');
  });

  it('a larger group (more than fits one item): reports kept in its counter shards and member items', async () => {
    // Prepare: nine members (beyond LAYOUT.single); b reports a small result, c an error, d a large result
    const group = newGroupId();
    const members = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const large = json({
      id: 'd',
      type: 'EventGroupCollectorEntityDone',
      group,
      result: { text: 'x'.repeat(2_000) },
    });
    await feed(create(group, members), done(group, 'b'), large);
    await feed(failed(group, 'c'));

    // Act
    const view = await inspect(group);

    // Assess
    expect(view).toMatchObject({
      status: 'failed',
      counts: { expected: 9, reported: 3, succeeded: 2, failed: 1, waitingEarly: 0 },
      errors: { c: 'c broke' },
    });
    expect(view.missing).toEqual(['a', 'e', 'f', 'g', 'h', 'i']);
  });

  it('a group not created yet: unknown, with the reports waiting for it', async () => {
    // Prepare
    const group = newGroupId();
    await feed(done(group, 'x'), done(group, 'y'));

    // Act
    const view = await inspect(group);

    // Assess
    expect(view.status).toBe('unknown');
    expect(view.early.map((e) => e.member).sort()).toEqual(['x', 'y']);
    expect(view.counts.waitingEarly).toBe(2);
    expect(view.deadline).toBeUndefined();
  });

  it('a decided group: its status, errors, the outcome as published and that it was published', async () => {
    // Prepare
    const [ok, broken] = [newGroupId(), newGroupId()];
    await feed(create(ok, ['a', 'b']), done(ok, 'a'), done(ok, 'b'));
    await feed(create(broken, ['a', 'b']), failed(broken, 'b'));

    // Act
    const [succeeded, failure] = await Promise.all([inspect(ok), inspect(broken)]);

    // Assess
    expect(succeeded).toMatchObject({ status: 'succeeded', missing: [], published: true });
    expect(Date.parse(succeeded.publishedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(succeeded.resolved ?? ''),
    );
    expect(succeeded.outcome).toMatchObject({
      type: 'EventGroupCollectorSuccess',
      id: ok,
      results: { a: { by: 'a' }, b: { by: 'b' } },
      payload: { order: 7 },
    });
    expect(failure).toMatchObject({
      status: 'failed',
      missing: ['a'],
      errors: { b: 'b broke' },
      published: true,
    });
    expect(failure.outcome).toMatchObject({
      type: 'EventGroupCollectorFailure',
      entity: 'b',
      error: 'b broke',
    });
  });

  it('a member called __proto__ is shown like any other: its error, and in the printed view', async () => {
    // Prepare: a tolerate group, so that both errors are stored and the group stays open
    const group = newGroupId();
    await feed(
      json({
        id: group,
        type: 'EventGroupCollectorCreate',
        expected: ['__proto__', 'b', 'c'],
        ttl: 300,
        tolerate: 2,
      }),
      failed(group, '__proto__'),
      failed(group, 'b'),
    );

    // Act
    const view = await inspect(group);
    const printed = formatInspection(view);

    // Assess
    expect(Object.getOwnPropertyNames(view.errors).sort()).toEqual(['__proto__', 'b']);
    expect(Object.getOwnPropertyDescriptor(view.errors, '__proto__')?.value).toBe('__proto__ broke');
    expect(JSON.parse(JSON.stringify(view)).errors).toEqual(
      JSON.parse('{"__proto__":"__proto__ broke","b":"b broke"}'),
    );
    expect(printed).toContain('error      __proto__: __proto__ broke');
    expect(view.missing).toEqual(['c']);
  });
});

describe('inspect checks the signature stored with a decided group’s outcome', () => {
  const signingKey = generateSigningJwk('inspect-k1', 0);
  const impostor = { ...generateSigningJwk('inspect-k1', 0) };
  const publicKey = (jwk: SigningJwk) => parseSigningKeySet({ keys: [jwk] }).keys.map((k) => k.publicKey);
  let runtime: Runtime & { close(): Promise<void> };
  let unsigned: Runtime & { close(): Promise<void> };
  const client = dynamoClient();
  const inspect = (group: string, outcomeKeys?: string[]) =>
    inspectGroup(group, { tableName: services().tableName, dynamodb: client, outcomeKeys });
  const decide = (on: Runtime, group: string) =>
    processKafkaEvent(kafkaEvent([{ value: create(group, ['a']) }, { value: done(group, 'a') }]), on);

  beforeAll(async () => {
    [runtime, unsigned] = await Promise.all([
      testRuntime({ signingKeys: JSON.stringify({ keys: [signingKey] }) }),
      testRuntime(),
    ]);
  });
  afterAll(async () => {
    client.destroy();
    await Promise.all([runtime.close(), unsigned.close()]);
  });

  it('valid with the collector’s key, INVALID with another key of the same id, not checked without keys, none stored when decided unsigned', async () => {
    // Prepare: a group decided with signing on, one with signing off
    const [signed, plain] = [newGroupId(), newGroupId()];
    await Promise.all([decide(runtime, signed), decide(unsigned, plain)]);

    // Act
    const [valid, forged, unchecked, none] = await Promise.all([
      inspect(signed, publicKey(signingKey)),
      inspect(signed, publicKey(impostor)),
      inspect(signed),
      inspect(plain, publicKey(signingKey)),
    ]);

    // Assess
    expect(valid.status).toBe('succeeded');
    expect(valid.signature).toEqual({ verified: 'valid', keyId: 'inspect-k1' });
    expect(forged.signature).toEqual({ verified: 'invalid', keyId: 'inspect-k1' });
    expect(unchecked.signature).toEqual({ verified: 'not-checked', keyId: 'inspect-k1' });
    expect(none.signature).toEqual({ verified: 'not-stored' });
    expect(formatInspection(valid)).toContain('signature  valid (key inspect-k1)');
    expect(formatInspection(forged)).toContain('signature  INVALID: does not verify with key inspect-k1');
  });

  it('the command line takes the keys from --outcome-keys or $COLLECTOR_OUTCOME_KEYS', async () => {
    // Prepare
    const group = newGroupId();
    await decide(runtime, group);
    const target = ['--table', services().tableName, '--endpoint', services().dynamoEndpoint];
    const [flag, env] = [
      captured(),
      captured('', { COLLECTOR_OUTCOME_KEYS: publicKey(signingKey).join(',') }),
    ];

    // Act
    const codes = [
      await main(
        ['inspect', group, '--json', '--outcome-keys', publicKey(signingKey).join(','), ...target],
        flag.io,
      ),
      await main(['inspect', group, ...target], env.io),
    ];

    // Assess
    expect(codes).toEqual([0, 0]);
    expect(JSON.parse(flag.out()).signature).toEqual({ verified: 'valid', keyId: 'inspect-k1' });
    expect(env.out()).toContain('signature  valid (key inspect-k1)');
  });
});
