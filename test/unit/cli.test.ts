/** The command line where no service is needed: --version, help, refusals, error messages, the SDK's Node.js notice. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { awsFailure, CommandError, kafkaFailure } from '../../cli/errors.ts';
import { main } from '../../cli/index.ts';
import { nodeNoticeLine, shortenNodeNotice, type WarningTarget } from '../../cli/node-notice.ts';
import { proofsOf, refusalOf } from '../../cli/produce.ts';
import { ValidationError } from '../../client/errors.ts';
import { checkValue } from '../../client/validation.ts';
import { memberCredentials, newProtectedGroup, verifyCapability } from '../../functions/core/capabilities.ts';
import { captured } from '../helpers/cli-io.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
/** A port nothing listens on: a send there would fail, so a test passing shows nothing was sent. */
const NO_BROKER = 'localhost:1';

describe('group-collector --version and help', () => {
  it('prints the package version for --version, -v and version', async () => {
    // Prepare
    const { version } = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const [long, short, word] = [captured(), captured(), captured()];
    // Act
    const codes = [
      await main(['--version'], long.io),
      await main(['-v'], short.io),
      await main(['version'], word.io),
    ];
    // Assess
    expect(codes).toEqual([0, 0, 0]);
    for (const run of [long, short, word]) expect(run.out()).toBe(`${version}\n`);
  });

  it('help <command> prints that command’s help, as <command> --help does; help alone the commands', async () => {
    // Prepare
    const [helpProduce, produceHelp, helpInspect, help, helpUnknown] = [
      captured(),
      captured(),
      captured(),
      captured(),
      captured(),
    ];
    // Act
    const codes = [
      await main(['help', 'produce'], helpProduce.io),
      await main(['produce', '--help'], produceHelp.io),
      await main(['help', 'inspect'], helpInspect.io),
      await main(['help'], help.io),
      await main(['help', 'nope'], helpUnknown.io),
    ];
    // Assess
    expect(codes).toEqual([0, 0, 0, 0, 2]);
    expect(helpProduce.out()).toMatch(/^usage: group-collector produce /);
    expect(helpProduce.out()).toContain('--raw');
    expect(helpProduce.out()).toContain('--protected');
    expect(helpProduce.out()).toContain('--credentials');
    expect(helpProduce.out()).toBe(produceHelp.out());
    expect(helpInspect.out()).toMatch(/^usage: group-collector inspect /);
    expect(helpInspect.out()).toContain('--outcome-keys');
    expect(helpInspect.out()).toContain('$COLLECTOR_OUTCOME_KEYS');
    expect(help.out()).toMatch(/^usage: group-collector <command>/);
    expect(help.out()).toContain('--version');
    expect(helpUnknown.err()).toContain('unknown command "nope"');
  });
});

describe('group-collector produce refuses what the client refuses', () => {
  it('refuses a Create with "expected": [] with the client’s ValidationError, exit 1, before any broker is needed', async () => {
    // Prepare: the same Create through the client's own check, and on the command line
    const create = '{"id":"G-1","type":"EventGroupCollectorCreate","expected":[]}';
    let clientError: unknown;
    try {
      checkValue(create, { maxTtlSeconds: 3600 });
    } catch (error) {
      clientError = error;
    }
    const run = captured(`${create}\n`);
    // Act
    const code = await main(['produce', '--brokers', NO_BROKER, '-'], run.io);
    // Assess
    expect(clientError).toBeInstanceOf(ValidationError);
    expect(clientError).toMatchObject({ field: 'expected', reason: 'empty-expected' });
    expect(code).toBe(1);
    expect(run.err()).toContain(
      'group-collector produce: stdin: ValidationError (field "expected", reason empty-expected): "expected" is empty',
    );
    expect(run.err()).toContain('--raw');
    expect(run.out()).toBe('');
  });

  it('refuses malformed JSON, an unknown type, a missing type and a ttl over the limit, each naming the field', () => {
    // Prepare
    const values = {
      malformed: '{"id":',
      unknownType: '{"id":"x","type":"Nope"}',
      noType: '{"id":"x"}',
      ttl: '{"id":"G","type":"EventGroupCollectorCreate","expected":["a"],"ttl":99999999}',
      report: '{"id":"a","type":"EventGroupCollectorEntityDone","group":"G","result":1}',
      outcome: '{"type":"EventGroupCollectorSuccess","id":"G","results":{}}',
    };
    // Act
    const refusals = Object.fromEntries(
      Object.entries(values).map(([name, value]) => [name, refusalOf(value)] as const),
    );
    // Assess
    expect(refusals.malformed).toMatchObject({ field: '(value)', reason: 'malformed-json' });
    expect(refusals.unknownType).toMatchObject({ field: 'type', reason: 'unknown-type' });
    expect(refusals.noType).toMatchObject({ field: 'type', reason: 'invalid-field' });
    expect(refusals.ttl).toMatchObject({ field: 'ttl', reason: 'ttl-out-of-range' });
    // A valid report and one of the collector's own outcomes (which it ignores) are sendable.
    expect(refusals.report).toBeUndefined();
    expect(refusals.outcome).toBeUndefined();
  });

  it('stops at the first refused record: the records after it are not sent either', async () => {
    // Prepare: an invalid record first (nothing is sent, so no broker is needed), a valid one after it
    const run = captured(
      '{"id":"a","type":"EventGroupCollectorEntityDone"}\n{"id":"a","type":"EventGroupCollectorEntityDone","group":"G"}\n',
    );
    // Act
    const code = await main(['produce', '--brokers', NO_BROKER, '-'], run.io);
    // Assess
    expect(code).toBe(1);
    expect(run.err()).toMatch(/ValidationError \(field "group", reason invalid-field\)/);
    expect(run.err()).toContain('not sent, nor anything after it');
    expect(run.out()).toBe('');
  });
});

describe('group-collector produce: the proofs of a protected group’s records (the client’s)', () => {
  it('the owner’s credentials prove a Create, a report, a Cancel and an Extend; a member’s only its own report', () => {
    // Prepare
    const owner = newProtectedGroup();
    const group = owner.groupId;
    const member = memberCredentials(owner, 'a');
    const values = {
      create: JSON.stringify({ id: group, type: 'EventGroupCollectorCreate', expected: ['a'] }),
      report: JSON.stringify({ id: 'a', type: 'EventGroupCollectorEntityDone', group }),
      cancel: JSON.stringify({ type: 'EventGroupCollectorCancel', group }),
      extend: JSON.stringify({ type: 'EventGroupCollectorExtend', group, ttl: 60, nonce: 'n' }),
    };
    const verified = (kind: keyof typeof values, headers: ReturnType<typeof proofsOf>) =>
      verifyCapability({
        groupId: group,
        kind,
        ...(kind === 'report' ? { member: 'a' } : {}),
        value: Buffer.from(values[kind]),
        headers: headers ?? [],
      });

    // Act
    const byOwner = (Object.keys(values) as (keyof typeof values)[]).map((kind) =>
      verified(kind, proofsOf(values[kind], owner)),
    );
    const byMember = verified('report', proofsOf(values.report, member));
    const refused = (() => {
      try {
        return proofsOf(values.cancel, member);
      } catch (error) {
        return error;
      }
    })();

    // Assess
    expect(byOwner).toEqual([undefined, undefined, undefined, undefined]);
    expect(byMember).toBeUndefined();
    expect(refused).toBeInstanceOf(ValidationError);
    expect(proofsOf(values.report.replace(group, 'G-1'), undefined)).toBeUndefined();
  });
});

describe('group-collector inspect --outcome-keys', () => {
  it('refuses a key that is not kid:x, from the flag or the environment, before reading any table', async () => {
    // Prepare: nothing listens on the endpoint, so a read would fail with 1, not 2
    const target = ['--table', 'T', '--endpoint', 'http://localhost:1'];
    const [flag, env] = [captured(), captured('', { COLLECTOR_OUTCOME_KEYS: 'k1:not-a-key' })];

    // Act
    const codes = [
      await main(['inspect', 'G-1', '--outcome-keys', 'nonsense', ...target], flag.io),
      await main(['inspect', 'G-1', ...target], env.io),
    ];

    // Assess
    expect(codes).toEqual([2, 2]);
    expect(flag.err()).toContain('"nonsense" is not an outcome key');
    expect(env.err()).toContain('"k1:not-a-key" is not an outcome key');
  });
});

describe('command errors name where and say what to do', () => {
  it('a missing region, missing credentials, a missing table and nothing listening, for inspect', () => {
    // Prepare
    const local = {
      action: 'read table T',
      endpoint: 'http://localhost:8000',
      region: 'us-east-1',
      table: 'T',
    };
    const aws = { action: 'read table T', endpoint: undefined, region: undefined, table: 'T' };
    const refused = Object.assign(
      new AggregateError(
        [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { code: 'ECONNREFUSED' })],
        '',
      ),
      { code: 'ECONNREFUSED' },
    );
    const notFound = Object.assign(new Error('Cannot do operations on a non-existent table'), {
      name: 'ResourceNotFoundException',
    });
    const credentials = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    // Act
    const messages = {
      region: awsFailure(new Error('Region is missing'), aws).message,
      credentials: awsFailure(credentials, { ...aws, region: 'eu-west-1' }).message,
      notFound: awsFailure(notFound, local).message,
      refused: awsFailure(refused, local).message,
      stack: awsFailure(
        Object.assign(new Error('Stack with id Orders does not exist'), { name: 'ValidationError' }),
        {
          action: 'read stack Orders',
          endpoint: undefined,
          region: 'eu-west-1',
          stack: 'Orders',
        },
      ).message,
    };
    // Assess
    expect(messages.region).toBe(
      'cannot read table T on AWS in region (none set): Region is missing\n  fix: give --region REGION, or set AWS_REGION (or a region in your AWS profile)',
    );
    expect(messages.credentials).toMatch(
      /^cannot read table T on AWS in region eu-west-1: Could not load credentials/,
    );
    expect(messages.credentials).toContain('fix: sign in');
    expect(messages.notFound).toMatch(
      /^cannot read table T at http:\/\/localhost:8000 \(region us-east-1\): Cannot do operations on a non-existent table\n {2}fix: no table T there/,
    );
    expect(messages.refused).toContain('connect ECONNREFUSED 127.0.0.1:8000');
    expect(messages.refused).toContain('fix: nothing answers at http://localhost:8000');
    expect(messages.stack).toContain('fix: no stack Orders in this account and region');
  });

  it('a broker that does not answer and a topic that does not exist, for produce', () => {
    // Prepare
    const target = { brokers: ['localhost:1'], topic: 'orders' };
    const connection = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:1'), {
      name: 'KafkaJSConnectionError',
    });
    const topic = Object.assign(new Error('This server does not host this topic-partition'), {
      name: 'KafkaJSProtocolError',
    });
    // Act
    const errors = [kafkaFailure(connection, target), kafkaFailure(topic, target)];
    // Assess
    expect(errors.every((e) => e instanceof CommandError && e.exitCode === 1)).toBe(true);
    expect(errors[0]?.message).toMatch(/^cannot send to topic orders on localhost:1: Connection error/);
    expect(errors[0]?.message).toContain('fix: nothing answers at localhost:1');
    expect(errors[1]?.message).toContain('fix: topic orders does not exist on that cluster');
  });
});

describe('the AWS SDK’s Node.js notice', () => {
  const SDK_TEXT = `NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)
versions published after the first week of January 2027
will require node >=22. You are running node v20.20.2.

To continue receiving updates to AWS services, bug fixes,
and security updates please upgrade to node >=22.

More information can be found at: https://a.co/c895JFp`;

  it('is one line, once; other warnings pass through unchanged', () => {
    // Prepare: a process-like target that records what reaches the original emitWarning
    const passed: unknown[] = [];
    const written: string[] = [];
    const target: WarningTarget = {
      emitWarning: (warning) => {
        passed.push(warning);
      },
      version: 'v20.20.2',
      stderr: { write: (text: string) => written.push(text) },
    };
    const undo = shortenNodeNotice(target);
    // Act
    target.emitWarning(SDK_TEXT);
    target.emitWarning(SDK_TEXT);
    target.emitWarning('something else');
    undo();
    target.emitWarning(SDK_TEXT);
    // Assess
    expect(written).toEqual([nodeNoticeLine(SDK_TEXT, 'v20.20.2')]);
    expect(written[0]).toBe(
      'note: AWS SDK releases published after the first week of January 2027 need Node.js 22 or newer; this is Node.js v20.20.2 (README, "Node.js support")\n',
    );
    expect(passed).toEqual(['something else', SDK_TEXT]);
  });
});
