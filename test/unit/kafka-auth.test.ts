import { afterEach, describe, expect, it } from 'vitest';
import { ConfigurationError, ENV } from '#shared/config.ts';
import { clearKafkaConnectionCache, kafkaConnectionConfig } from '#shared/kafka-auth.ts';

const secrets =
  (values: Record<string, string>) =>
  async (id: string): Promise<string> => {
    const value = values[id];
    if (value === undefined) throw new Error(`no secret ${id}`);
    return value;
  };

describe('kafkaConnectionConfig', () => {
  afterEach(() => clearKafkaConnectionCache());

  it('connects in plain text without credentials when KAFKA_AUTH is none or unset', async () => {
    // Prepare / Act
    const unset = await kafkaConnectionConfig({});
    const none = await kafkaConnectionConfig({ [ENV.kafkaAuth]: 'none' });
    // Assess
    expect(unset).toEqual({});
    expect(none).toEqual({});
  });

  it('turns TLS on without credentials when KAFKA_AUTH=none and KAFKA_TLS=true', async () => {
    expect(await kafkaConnectionConfig({ [ENV.kafkaAuth]: 'none', [ENV.kafkaTls]: 'true' })).toEqual({
      ssl: true,
    });
  });

  it('rejects an unknown mode, naming the allowed ones', async () => {
    await expect(kafkaConnectionConfig({ [ENV.kafkaAuth]: 'plain' })).rejects.toThrow(
      /KAFKA_AUTH must be one of iam, scram-sha-512, mtls, none; got "plain"/,
    );
  });

  it('rejects SCRAM and mTLS without a secret', async () => {
    for (const mode of ['scram-sha-512', 'mtls']) {
      await expect(kafkaConnectionConfig({ [ENV.kafkaAuth]: mode })).rejects.toThrow(ConfigurationError);
      await expect(kafkaConnectionConfig({ [ENV.kafkaAuth]: mode })).rejects.toThrow(/KAFKA_SECRET_ARN/);
    }
  });

  it('rejects IAM without a region and IAM or mTLS without TLS', async () => {
    await expect(kafkaConnectionConfig({ [ENV.kafkaAuth]: 'iam' })).rejects.toThrow(/AWS_REGION/);
    await expect(
      kafkaConnectionConfig({ [ENV.kafkaAuth]: 'iam', [ENV.kafkaTls]: 'false', AWS_REGION: 'eu-west-1' }),
    ).rejects.toThrow(/needs TLS/);
    await expect(kafkaConnectionConfig({ [ENV.kafkaTls]: 'yes' })).rejects.toThrow(/"true" or "false"/);
  });

  it('rejects a secret without the fields AWS documents', async () => {
    const env = { [ENV.kafkaAuth]: 'scram-sha-512', [ENV.kafkaSecretArn]: 'arn:scram' };
    await expect(kafkaConnectionConfig(env, secrets({ 'arn:scram': '{"username":"u"}' }))).rejects.toThrow(
      /has no "password" string/,
    );
    clearKafkaConnectionCache();
    await expect(kafkaConnectionConfig(env, secrets({ 'arn:scram': 'not json' }))).rejects.toThrow(
      /not JSON/,
    );
  });

  it('builds SCRAM and mTLS settings from secrets in the AWS formats, once per environment', async () => {
    // Prepare
    let reads = 0;
    const read = async (id: string) => {
      reads += 1;
      return secrets({
        'arn:scram': '{"username":"collector","password":"s3cret"}',
        'arn:mtls': '{"certificate":"CERT","privateKey":"KEY","privateKeyPassword":"pw"}',
        'arn:ca': '{"certificate":"CA"}',
      })(id);
    };
    const scramEnv = { [ENV.kafkaAuth]: 'scram-sha-512', [ENV.kafkaSecretArn]: 'arn:scram' };
    // Act
    const scram = await kafkaConnectionConfig(scramEnv, read);
    await kafkaConnectionConfig(scramEnv, read);
    const mtls = await kafkaConnectionConfig(
      { [ENV.kafkaAuth]: 'mtls', [ENV.kafkaSecretArn]: 'arn:mtls', [ENV.kafkaRootCaSecretArn]: 'arn:ca' },
      read,
    );
    // Assess
    expect(scram).toEqual({
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'collector', password: 's3cret' },
    });
    expect(mtls).toEqual({ ssl: { cert: 'CERT', key: 'KEY', passphrase: 'pw', ca: ['CA'] } });
    expect(reads).toBe(3);
  });

  it('signs MSK IAM with OAUTHBEARER over TLS', async () => {
    const iam = await kafkaConnectionConfig({ [ENV.kafkaAuth]: 'iam', AWS_REGION: 'eu-west-1' });
    expect(iam.ssl).toBe(true);
    expect(iam.sasl?.mechanism).toBe('oauthbearer');
  });
});
