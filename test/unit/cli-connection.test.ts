/**
 * The command line's connection options (TLS, SASL, MSK IAM) as kafkajs settings, and the MSK IAM
 * token they send: AWS's presigned `kafka-cluster:Connect` URL, checked here against an independent
 * SigV4 computation with fixed fake credentials (no network: the signer works locally).
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type AwsCredentials, mskIamTokenProvider, TOKEN_REFRESH_MARGIN_MS } from '#shared/msk-iam.ts';
import { CONNECTION_ENV, type Connection, connectionOf } from '../../cli/connection.ts';
import { UsageError } from '../../cli/errors.ts';

const FAKE: AwsCredentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'FwoGZXIvYXdzEXAMPLE+token/with=chars',
};
const NOW = new Date('2026-03-04T05:06:07Z');

/** What the broker would do with the token: decode the URL and check its SigV4 query signature. */
function verify(token: string, credentials: AwsCredentials) {
  const url = new URL(Buffer.from(token, 'base64url').toString('utf8'));
  const q = url.searchParams;
  const [, date, region, service] = (q.get('X-Amz-Credential') ?? '').split('/');
  const encode = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const canonicalQuery = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature' && k !== 'User-Agent')
    .map(([k, v]) => [encode(k), encode(v)])
    .sort(([a = ''], [b = '']) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${url.host}\n`, 'host', sha256('')].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', q.get('X-Amz-Date'), scope, sha256(canonicalRequest)].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, date ?? '');
  for (const part of [region ?? '', service ?? '', 'aws4_request']) key = hmac(key, part);
  return {
    url,
    region,
    service,
    signatureValid: createHmac('sha256', key).update(stringToSign).digest('hex') === q.get('X-Amz-Signature'),
  };
}

/** The token kafkajs would send on the connection: its SASL/OAUTHBEARER provider's value. */
async function tokenOf(connection: Connection): Promise<string> {
  const sasl = connection.sasl as {
    mechanism?: string;
    oauthBearerProvider?: () => Promise<{ value: string }>;
  };
  if (sasl?.mechanism !== 'oauthbearer' || !sasl.oauthBearerProvider) throw new Error('not OAUTHBEARER');
  return (await sasl.oauthBearerProvider()).value;
}

describe('MSK IAM token', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllEnvs();
  });

  it('is a kafka-cluster:Connect URL for the Region, presigned with the credentials for 15 minutes', async () => {
    // Prepare
    vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
    const provider = mskIamTokenProvider({ region: 'eu-west-1', credentials: async () => FAKE });
    // Act
    const { value } = await provider();
    const { url, region, service, signatureValid } = verify(value, FAKE);
    // Assess
    expect(value).toMatch(/^[A-Za-z0-9_-]+$/); // base64url, no padding
    expect(url.origin).toBe('https://kafka.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe('/');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      Action: 'kafka-cluster:Connect',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': `${FAKE.accessKeyId}/20260304/eu-west-1/kafka-cluster/aws4_request`,
      'X-Amz-Date': '20260304T050607Z',
      'X-Amz-Expires': '900',
      'X-Amz-Security-Token': FAKE.sessionToken,
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': expect.stringMatching(/^[0-9a-f]{64}$/),
      'User-Agent': expect.stringMatching(/^aws-msk-iam-sasl-signer-js\/\d+\.\d+\.\d+$/),
    });
    expect([region, service]).toEqual(['eu-west-1', 'kafka-cluster']);
    expect(signatureValid).toBe(true);
    expect(verify(value, { ...FAKE, secretAccessKey: 'another' }).signatureValid).toBe(false);
  });

  it('is reused until a minute before it expires, then signed again', async () => {
    // Prepare
    vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
    let resolved = 0;
    const provider = mskIamTokenProvider({
      region: 'us-east-1',
      credentials: async () => {
        resolved += 1;
        return FAKE;
      },
    });
    // Act
    const first = await provider();
    vi.setSystemTime(NOW.getTime() + 900_000 - TOKEN_REFRESH_MARGIN_MS - 1_000);
    const reused = await provider();
    vi.setSystemTime(NOW.getTime() + 900_000 - TOKEN_REFRESH_MARGIN_MS + 1_000);
    const renewed = await provider();
    // Assess
    expect(reused.value).toBe(first.value);
    expect(renewed.value).not.toBe(first.value);
    expect(verify(renewed.value, FAKE).url.searchParams.get('X-Amz-Date')).toBe('20260304T052008Z');
    expect(resolved).toBe(2);
  });

  it('is what `--msk-iam` sends: OAUTHBEARER over TLS, signed with the default credentials for --region', async () => {
    // Prepare: the AWS SDK's default chain finds the fixed credentials in the environment first
    vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
    vi.stubEnv('AWS_ACCESS_KEY_ID', FAKE.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', FAKE.secretAccessKey);
    vi.stubEnv('AWS_SESSION_TOKEN', FAKE.sessionToken ?? '');
    vi.stubEnv('AWS_PROFILE', '');
    // Act
    const connection = connectionOf({ 'msk-iam': true, region: 'ap-southeast-2' }, {});
    const token = verify(await tokenOf(connection), FAKE);
    // Assess
    expect(connection.ssl).toBe(true);
    expect(token.url.host).toBe('kafka.ap-southeast-2.amazonaws.com');
    expect(token.url.searchParams.get('X-Amz-Credential')).toBe(
      `${FAKE.accessKeyId}/20260304/ap-southeast-2/kafka-cluster/aws4_request`,
    );
    expect(token.signatureValid).toBe(true);
  });
});

describe('connection options', () => {
  afterEach(() => vi.unstubAllEnvs());
  const ca = () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ca-')), 'ca.pem');
    writeFileSync(file, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    return file;
  };

  it('is plain text without options, TLS with --tls, and trusts only the --ca file with --ca', () => {
    // Prepare
    const file = ca();
    // Act / Assess
    expect(connectionOf({}, {})).toEqual({});
    expect(connectionOf({ tls: true }, {})).toEqual({ ssl: true });
    expect(connectionOf({ ca: file }, {})).toEqual({
      ssl: { ca: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'] },
    });
  });

  it('signs in with SCRAM or PLAIN, the password from the environment, the user from either', () => {
    // Prepare
    const env = { [CONNECTION_ENV.username]: 'env-user', [CONNECTION_ENV.password]: 'env-secret' };
    // Act
    const scram = connectionOf({ 'sasl-mechanism': 'scram-sha-512', tls: true, username: 'app' }, env);
    const fromEnv = connectionOf({ 'sasl-mechanism': 'scram-sha-256' }, env);
    const plain = connectionOf({ 'sasl-mechanism': 'plain', username: 'u', password: 'p' }, {});
    // Assess
    expect(scram).toEqual({
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'app', password: 'env-secret' },
    });
    expect(fromEnv).toEqual({
      sasl: { mechanism: 'scram-sha-256', username: 'env-user', password: 'env-secret' },
    });
    expect(plain).toEqual({ sasl: { mechanism: 'plain', username: 'u', password: 'p' } });
  });

  it('refuses incomplete or contradictory options with a usage error that names the fix', () => {
    // Prepare
    const cases: [Parameters<typeof connectionOf>[0], RegExp][] = [
      [
        { 'sasl-mechanism': 'scram-sha-1' },
        /must be one of scram-sha-512, scram-sha-256, plain; got "scram-sha-1"/,
      ],
      [
        { 'sasl-mechanism': 'scram-sha-512' },
        /needs --username \(or \$KAFKA_SASL_USERNAME\) and \$KAFKA_SASL_PASSWORD/,
      ],
      [
        { 'sasl-mechanism': 'scram-sha-512', username: 'u' },
        /needs \$KAFKA_SASL_PASSWORD \(or --password\)$/,
      ],
      [{ username: 'u', password: 'p' }, /need --sasl-mechanism/],
      [{ 'msk-iam': true, 'sasl-mechanism': 'plain' }, /give one/],
      [{ 'msk-iam': true }, /give --region or set AWS_REGION/],
      [{ region: 'eu-west-1' }, /add --msk-iam/],
      [{ ca: '/nonexistent/ca.pem' }, /--ca \/nonexistent\/ca\.pem: ENOENT/],
    ];
    // Act / Assess
    for (const [values, message] of cases) {
      expect(() => connectionOf(values, {}), JSON.stringify(values)).toThrow(UsageError);
      expect(() => connectionOf(values, {}), JSON.stringify(values)).toThrow(message);
    }
  });

  it('takes the MSK Region from AWS_REGION, then AWS_DEFAULT_REGION', async () => {
    // Prepare
    vi.stubEnv('AWS_ACCESS_KEY_ID', FAKE.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', FAKE.secretAccessKey);
    vi.stubEnv('AWS_PROFILE', '');
    const hostOf = async (env: Record<string, string>) => {
      return verify(await tokenOf(connectionOf({ 'msk-iam': true }, env)), FAKE).url.host;
    };
    // Act
    const both = await hostOf({ AWS_REGION: 'eu-central-1', AWS_DEFAULT_REGION: 'us-west-2' });
    const fallback = await hostOf({ AWS_DEFAULT_REGION: 'us-west-2' });
    // Assess
    expect([both, fallback]).toEqual(['kafka.eu-central-1.amazonaws.com', 'kafka.us-west-2.amazonaws.com']);
  });
});
