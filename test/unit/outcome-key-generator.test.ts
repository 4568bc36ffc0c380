import * as crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseOutcomeKeys, parseSigningKeySet, signOutcome, verifyOutcome } from '#core/signing.ts';
import { KEY_GENERATOR_SOURCE, ROTATION_LEAD_SECONDS } from '../../infra/lib/outcome-key-generator.ts';

/** The inline handler, run with a Secrets Manager and a CloudFormation response URL in memory. */
function generator(initial: string, failWith?: Error) {
  const secret = { value: initial, puts: 0 };
  const responses: { Status: string; Reason: string; Data: { PublicKeys?: string } }[] = [];
  class GetSecretValueCommand {
    constructor(readonly input: unknown) {}
  }
  class PutSecretValueCommand {
    constructor(readonly input: { SecretString: string }) {}
  }
  const sm = {
    GetSecretValueCommand,
    PutSecretValueCommand,
    SecretsManagerClient: class {
      async send(command: unknown) {
        if (failWith) throw failWith;
        if (command instanceof PutSecretValueCommand) {
          secret.value = command.input.SecretString;
          secret.puts++;
          return {};
        }
        return { SecretString: secret.value };
      }
    },
  };
  const https = {
    request(_url: string, _options: unknown, onResponse: (res: unknown) => void) {
      return {
        on() {},
        end(body: string) {
          responses.push(JSON.parse(body));
          onResponse({ resume() {}, on: (_: string, done: () => void) => done() });
        },
      };
    },
  };
  const modules: Record<string, unknown> = {
    'node:crypto': crypto,
    'node:https': https,
    '@aws-sdk/client-secrets-manager': sm,
  };
  const exports: { handler?: (event: unknown) => Promise<void> } = {};
  new Function('require', 'exports', KEY_GENERATOR_SOURCE)((name: string) => modules[name], exports);
  const run = async (event: Record<string, unknown>) => {
    await exports.handler?.({
      ResponseURL: 'https://cfn.example/response',
      StackId: 's',
      RequestId: 'r',
      LogicalResourceId: 'l',
      ...event,
    });
    return responses[responses.length - 1];
  };
  return { secret, run };
}

describe('the outcome key generator (custom resource)', () => {
  it('creates a key set the functions can sign with and answers with its public key', async () => {
    // Prepare
    const { secret, run } = generator('placeholder-from-secrets-manager');

    // Act
    const response = await run({
      RequestType: 'Create',
      ResourceProperties: { SecretId: 'arn', Generation: '1' },
    });

    // Assess
    const set = parseSigningKeySet(secret.value);
    const message = { topic: 't', key: 'g', value: Buffer.from('{}'), resolvedMs: Date.now() };
    const keys = parseOutcomeKeys([response?.Data.PublicKeys ?? '']);
    expect(response?.Status).toBe('SUCCESS');
    expect(set.keys).toHaveLength(1);
    expect(verifyOutcome(keys, { ...message, headers: signOutcome(set, message) })).toBe('valid');
    expect(JSON.stringify(response)).not.toContain('"d"');
  });

  it('keeps the key on an update of the same generation; a new generation adds a key an hour ahead and keeps the newest previous', async () => {
    // Prepare
    const { secret, run } = generator('placeholder');
    const created = await run({
      RequestType: 'Create',
      ResourceProperties: { SecretId: 'arn', Generation: '1' },
    });
    const first = secret.value;

    // Act
    const same = await run({
      RequestType: 'Update',
      ResourceProperties: { SecretId: 'arn', Generation: '1' },
      OldResourceProperties: { SecretId: 'arn', Generation: '1' },
    });
    const unchanged = secret.value;
    const rotated = await run({
      RequestType: 'Update',
      ResourceProperties: { SecretId: 'arn', Generation: '2' },
      OldResourceProperties: { SecretId: 'arn', Generation: '1' },
    });

    // Assess
    const set = parseSigningKeySet(secret.value);
    expect(same?.Data.PublicKeys).toBe(created?.Data.PublicKeys);
    expect(unchanged).toBe(first);
    expect(set.keys).toHaveLength(2);
    expect(rotated?.Data.PublicKeys?.startsWith(`${created?.Data.PublicKeys},g2-`)).toBe(true);
    const [old, next] = set.keys;
    expect(((next?.nbfMs ?? 0) - Date.now()) / 1000).toBeGreaterThan(ROTATION_LEAD_SECONDS - 5);
    expect(old?.publicKey).toBe(created?.Data.PublicKeys);
  });

  it('reports a failure to CloudFormation instead of hanging the deployment', async () => {
    // Prepare
    const { run } = generator('placeholder', new Error('AccessDenied'));

    // Act
    const response = await run({
      RequestType: 'Create',
      ResourceProperties: { SecretId: 'arn', Generation: '1' },
    });

    // Assess
    expect(response?.Status).toBe('FAILED');
    expect(response?.Reason).toBe('AccessDenied');
  });
});
