/**
 * The command line on the real services: `produce` (files, samples, standard input, in order; the
 * client's refusals; `--raw`) and `inspect` (a group, an unknown id, a table that does not exist).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCollector } from '#local/collector.ts';
import { main } from '../../cli/index.ts';
import { listSamples, SAMPLES_DIR } from '../../cli/produce.ts';
import type { GroupCollectorClient, GroupCredentials } from '../../client/index.ts';
import { processKafkaEvent } from '../../functions/collector/handler.ts';
import { ENV } from '../../functions/shared/config.ts';
import { captured } from '../helpers/cli-io.ts';
import { drainTopic, kafkaEvent, newGroupId, testRuntime } from '../helpers/collector.ts';
import { type CollectorOnTopics, collectorOnFreshTopics } from '../helpers/local-collector.ts';
import { freshTopic, services } from '../helpers/services.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

describe('group-collector produce', () => {
  it('sends samples, files and standard input lines as records, in command-line order, with the key (--raw: anything)', async () => {
    // Prepare: a one-partition topic (order is kept), a file, and three lines on stdin (one empty).
    const topic = await freshTopic('cli', 1);
    const dir = mkdtempSync(join(tmpdir(), 'cli-'));
    const file = join(dir, 'create.json');
    writeFileSync(file, '{"id":"G-1","type":"EventGroupCollectorCreate","expected":["a"]}\n');
    const run = captured(
      '{"id":"a","type":"EventGroupCollectorEntityDone","group":"G-1"}\n\nthis is not json\n',
    );
    const brokers = services().brokers.join(',');
    // Act
    const code = await main(
      [
        'produce',
        '--raw',
        '--brokers',
        brokers,
        '--topic',
        topic,
        '--key',
        'G-1',
        '--sample',
        'done-a',
        file,
        '-',
      ],
      run.io,
    );
    const records = await drainTopic(topic);
    // Assess
    expect(code).toBe(0);
    expect(records.map((r) => r.value)).toEqual([
      readFileSync(join(SAMPLES_DIR, 'done-a.json'), 'utf8').trim(),
      '{"id":"G-1","type":"EventGroupCollectorCreate","expected":["a"]}',
      '{"id":"a","type":"EventGroupCollectorEntityDone","group":"G-1"}',
      'this is not json',
    ]);
    expect(records.every((r) => r.key === 'G-1')).toBe(true);
    expect(run.out()).toContain(`sample done-a → ${topic}/0@0`);
    expect(run.err()).toContain(
      'note: stdin: sent as given (--raw); the collector dead-letters it (malformed-json)',
    );
    expect(run.err()).toContain(`sent 4 record(s) to ${topic}`);
  });

  it('refuses a sample that does not exist, or nothing to send, with exit code 2 and sends nothing', async () => {
    // Prepare
    const topic = await freshTopic('cli-refused', 1);
    const brokers = services().brokers.join(',');
    const unknown = captured();
    const empty = captured();
    // Act
    const codes = [
      await main(['produce', '--brokers', brokers, '--topic', topic, '--sample', 'nope'], unknown.io),
      await main(['produce', '--brokers', brokers, '--topic', topic], empty.io),
    ];
    // Assess
    expect(codes).toEqual([2, 2]);
    expect(unknown.err()).toContain(`no sample "nope": choose one of ${listSamples().join(', ')}`);
    expect(listSamples()).toEqual(
      expect.arrayContaining(['create', 'done-a', 'done-b', 'done-c', 'error-c']),
    );
    expect(empty.err()).toMatch(/nothing to send/);
    expect(await drainTopic(topic)).toEqual([]);
  });

  it('sends the records before a refused one, then stops with the client’s error and exit code 1', async () => {
    // Prepare: a valid Create, then one with "expected": [], then a valid report
    const topic = await freshTopic('cli-validated', 1);
    const brokers = services().brokers.join(',');
    const good = '{"id":"G-2","type":"EventGroupCollectorCreate","expected":["a"]}';
    const run = captured(
      `${good}\n{"id":"G-3","type":"EventGroupCollectorCreate","expected":[]}\n{"id":"a","type":"EventGroupCollectorEntityDone","group":"G-2"}\n`,
    );
    // Act
    const code = await main(['produce', '--brokers', brokers, '--topic', topic, '-'], run.io);
    const records = await drainTopic(topic);
    // Assess
    expect(code).toBe(1);
    expect(records.map((r) => r.value)).toEqual([good]);
    expect(run.err()).toContain(
      'stdin: ValidationError (field "expected", reason empty-expected): "expected" is empty',
    );
    expect(run.err()).toContain('(1 record(s) sent before it)');
  });

  it('names the brokers and topic, and the fix, when the topic does not exist', async () => {
    // Prepare
    const brokers = services().brokers.join(',');
    const run = captured();
    // Act
    const code = await main(
      ['produce', '--brokers', brokers, '--topic', `cli-missing-${newGroupId()}`, '--sample', 'create'],
      run.io,
    );
    // Assess
    expect(code).toBe(1);
    expect(run.err()).toMatch(new RegExp(`cannot send to topic cli-missing-\\S+ on ${brokers}`));
    expect(run.err()).toContain('fix: topic cli-missing-');
  });

  it('runs as a command (bin.ts): brokers from KAFKA_BROKERS, records from standard input', async () => {
    // Prepare
    const topic = await freshTopic('cli-bin', 1);
    // Act: the real executable in its own process, fed through a pipe.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli/bin.ts', 'produce', '--raw', '--topic', topic, '-'],
      {
        cwd: ROOT,
        env: { ...process.env, [ENV.kafkaBrokers]: services().brokers.join(',') },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.stdin.end('{"n":1}\n{"n":2}\n');
    const code = await new Promise<number | null>((done) => child.on('close', done));
    const records = await drainTopic(topic);
    // Assess
    expect(code, stderr).toBe(0);
    expect(records.map((r) => r.value)).toEqual(['{"n":1}', '{"n":2}']);
    expect(records.map((r) => r.key)).toEqual([null, null]);
  });
});

describe('group-collector inspect', () => {
  it('prints an open group as one JSON object with its status, missing members and deadline; 3 for an unknown id', async () => {
    // Prepare: a group of two, one member reported, through the real collector
    const runtime = await testRuntime();
    const group = newGroupId();
    const json = (value: unknown) => JSON.stringify(value);
    await processKafkaEvent(
      kafkaEvent([
        { value: json({ id: group, type: 'EventGroupCollectorCreate', expected: ['a', 'b'], ttl: 60 }) },
        { value: json({ id: 'a', type: 'EventGroupCollectorEntityDone', group, result: 1 }) },
      ]),
      runtime,
    );
    await runtime.close();
    const target = ['--table', services().tableName, '--endpoint', services().dynamoEndpoint];
    const found = captured();
    const unknown = captured();

    // Act
    const code = await main(['inspect', group, '--json', ...target], found.io);
    const unknownCode = await main(['inspect', newGroupId(), ...target], unknown.io);
    const view = JSON.parse(found.out());

    // Assess
    expect(code).toBe(0);
    expect(view).toMatchObject({
      group,
      status: 'open',
      missing: ['b'],
      counts: { expected: 2, reported: 1 },
    });
    expect(Date.parse(view.deadline) - Date.parse(view.created)).toBe(60_000);
    expect(unknownCode).toBe(3);
    expect(unknown.out()).toContain('status     unknown');
    expect(unknown.err()).toContain(`in table ${services().tableName} at ${services().dynamoEndpoint}`);
  });

  it('names the table, endpoint and region, and the fix, for a table that does not exist; the SDK notice is one line', async () => {
    // Prepare
    const table = `no-such-table-${newGroupId()}`;
    const endpoint = services().dynamoEndpoint;
    // Act: the real executable, so that the AWS SDK's warnings reach its stderr
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'cli/bin.ts',
        'inspect',
        'G-1',
        '--table',
        table,
        '--endpoint',
        endpoint,
        '--region',
        'eu-west-1',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    // Assess
    expect(code, stderr).toBe(1);
    expect(stderr).toContain(`cannot read table ${table} at ${endpoint} (region eu-west-1)`);
    expect(stderr).toContain(`fix: no table ${table} there`);
    expect(stderr).not.toContain('To continue receiving updates');
    const nodeMajor = Number(process.versions.node.split('.')[0]);
    expect(stderr.split('\n').filter((line) => line.includes('Node.js')).length).toBe(nodeMajor < 22 ? 1 : 0);
  });
});

describe('group-collector produce for protected groups, against the real collector', () => {
  let on: CollectorOnTopics;
  let input: string;
  let outcomes: string;
  let deadLetters: string;
  let collector: LocalCollector;
  let client: GroupCollectorClient;
  const dir = mkdtempSync(join(tmpdir(), 'cli-protected-'));
  const produce = async (args: string[], stdin: string) => {
    const run = captured(stdin, {
      [ENV.outcomeTopic]: outcomes,
      [ENV.deadLetterTopic]: deadLetters,
    });
    const code = await main(
      ['produce', '--brokers', services().brokers.join(','), '--topic', input, ...args, '-'],
      run.io,
    );
    return { code, out: run.out(), err: run.err() };
  };
  const lines = (...values: unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join('');
  const create = { id: 'G', type: 'EventGroupCollectorCreate', expected: ['a', 'b'], ttl: 60 };
  const done = (member: string) => ({
    id: member,
    type: 'EventGroupCollectorEntityDone',
    group: 'G',
    result: member,
  });

  beforeAll(async () => {
    on = await collectorOnFreshTopics('cli-protected');
    ({ input, outcomes, deadLetters, collector, client } = on);
  });
  afterAll(() => on.stop());

  it('--protected creates the group and keeps its credentials; a member’s credentials report that member only; a report without proof is refused, or dead-lettered with --raw', async () => {
    // Prepare: the owner's file, and member b's credentials derived from it (as the client hands them out)
    const ownerFile = join(dir, 'owner.json');
    const memberFile = join(dir, 'member-b.json');
    const since = Date.now();

    // Act
    const created = await produce(['--protected', '--credentials', ownerFile], lines(create, done('a')));
    const owner = JSON.parse(readFileSync(ownerFile, 'utf8')) as GroupCredentials;
    const group = owner.groupId;
    writeFileSync(memberFile, JSON.stringify(client.memberCredentials(group, 'b', owner)));
    const outcome = client.awaitOutcome(group, { timeoutMs: 60_000, since });
    const unproven = await produce(['--group', group], lines(done('b')));
    const wrongMember = await produce(['--credentials', memberFile], lines(done('a')));
    const raw = await produce(['--group', group, '--raw', '--await', '--timeout', '30'], lines(done('b')));
    const genuine = await produce(['--credentials', memberFile], lines(done('b')));
    const result = await outcome;

    // Assess
    expect(created.code, created.err).toBe(0);
    expect(created.out).toContain(`group ${group}`);
    expect(group).toMatch(/^gk1\./);
    expect(unproven.code).toBe(1);
    expect(unproven.err).toContain(`reason unauthenticated): no credentials for protected group ${group}`);
    expect(wrongMember.code).toBe(1);
    expect(wrongMember.err).toContain('credentials of b cannot report a');
    expect(raw.out).toContain('collector-dlq-reason=unauthenticated');
    expect(genuine.code, genuine.err).toBe(0);
    expect(result).toMatchObject({ type: 'EventGroupCollectorSuccess', results: { a: 'a', b: 'b' } });
  });

  it('the owner’s credentials prove an Extend (with a nonce) and a Cancel', async () => {
    // Prepare
    const ownerFile = join(dir, 'owner-2.json');
    const since = Date.now();
    const extend = { type: 'EventGroupCollectorExtend', group: 'G', ttl: 300 };
    const cancel = { type: 'EventGroupCollectorCancel', group: 'G', message: 'no longer needed' };

    // Act
    const created = await produce(
      ['--protected', '--credentials', ownerFile],
      lines(create, done('a'), extend),
    );
    const group = (JSON.parse(readFileSync(ownerFile, 'utf8')) as GroupCredentials).groupId;
    const state = await waitForState(group, (s) => s.deadlineMs - s.createdMs >= 300_000);
    const outcome = client.awaitOutcome(group, { timeoutMs: 60_000, since });
    const cancelled = await produce(['--credentials', ownerFile], lines(cancel));
    const result = await outcome;

    // Assess
    expect(created.code, created.err).toBe(0);
    expect(state.status).toBe('open');
    expect(cancelled.code, cancelled.err).toBe(0);
    expect(result).toMatchObject({
      type: 'EventGroupCollectorFailure',
      reason: 'cancelled',
      results: { a: 'a' },
      missing: ['b'],
    });
  });

  /** Polls the group's STATE until `done` holds (the collector applies records asynchronously). */
  async function waitForState(
    group: string,
    done: (s: { status: string; deadlineMs: number; createdMs: number }) => boolean,
  ) {
    for (let i = 0; i < 300; i++) {
      const state = await collector.runtimes.collector.store.getState(group);
      if (state && done(state)) return state;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`group ${group}: state not reached`);
  }
});
