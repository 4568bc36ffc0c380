/**
 * How the functions' Kafka producers authenticate: the same mechanism as the
 * event source mapping that feeds the collector (MSK IAM, SASL/SCRAM-SHA-512,
 * mutual TLS, or none). Credentials come from Secrets Manager in the formats
 * AWS documents for the Kafka event source mapping, so one secret serves both.
 * Resolved once per execution environment and cached.
 */
import type { KafkaConfig } from 'kafkajs';
import { ConfigurationError, ENV } from './config.ts';
import { mskIamTokenProvider } from './msk-iam.ts';

export const KAFKA_AUTH_MODES = ['iam', 'scram-sha-512', 'mtls', 'none'] as const;
export type KafkaAuthMode = (typeof KAFKA_AUTH_MODES)[number];

export type KafkaConnectionConfig = Pick<KafkaConfig, 'ssl' | 'sasl'>;

type Env = Record<string, string | undefined>;

/** Reads a secret's string; replaceable in tests. */
export type SecretReader = (secretId: string) => Promise<string>;

const cache = new Map<string, Promise<KafkaConnectionConfig>>();

/** The Kafka connection settings (`ssl`, `sasl`) for the environment's KAFKA_AUTH, cached per environment. */
export async function kafkaConnectionConfig(
  env: Env = process.env,
  readSecret: SecretReader = readSecretString,
): Promise<KafkaConnectionConfig> {
  const mode = authMode(env);
  const tls = tlsEnabled(env, mode);
  const secretArn = env[ENV.kafkaSecretArn] || undefined;
  const rootCaSecretArn = env[ENV.kafkaRootCaSecretArn] || undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
  if ((mode === 'scram-sha-512' || mode === 'mtls') && !secretArn) {
    throw new ConfigurationError(
      `${ENV.kafkaSecretArn} must name the Secrets Manager secret holding the credentials when ${ENV.kafkaAuth}=${mode}`,
    );
  }
  if (mode === 'iam' && !region) {
    throw new ConfigurationError(`AWS_REGION must be set to sign MSK IAM tokens (${ENV.kafkaAuth}=iam)`);
  }
  const key = JSON.stringify([mode, tls, secretArn, rootCaSecretArn, region]);
  let config = cache.get(key);
  if (!config) {
    config = resolve(mode, tls, secretArn, rootCaSecretArn, region, readSecret);
    cache.set(key, config);
    // A failed lookup (throttled Secrets Manager, say) is retried on the next invocation.
    config.catch(() => cache.delete(key));
  }
  return config;
}

/** Forgets cached settings (tests). */
export function clearKafkaConnectionCache(): void {
  cache.clear();
}

function authMode(env: Env): KafkaAuthMode {
  const raw = env[ENV.kafkaAuth] || 'none';
  if (!(KAFKA_AUTH_MODES as readonly string[]).includes(raw)) {
    throw new ConfigurationError(
      `${ENV.kafkaAuth} must be one of ${KAFKA_AUTH_MODES.join(', ')}; got "${raw}"`,
    );
  }
  return raw as KafkaAuthMode;
}

/** TLS is on by default for every authenticated mode; IAM and mTLS cannot work without it. */
function tlsEnabled(env: Env, mode: KafkaAuthMode): boolean {
  const raw = env[ENV.kafkaTls];
  if (raw === undefined || raw === '') return mode !== 'none';
  if (raw !== 'true' && raw !== 'false') {
    throw new ConfigurationError(`${ENV.kafkaTls} must be "true" or "false"; got "${raw}"`);
  }
  const tls = raw === 'true';
  if (!tls && (mode === 'iam' || mode === 'mtls')) {
    throw new ConfigurationError(`${ENV.kafkaAuth}=${mode} needs TLS; ${ENV.kafkaTls}=false is not allowed`);
  }
  return tls;
}

async function resolve(
  mode: KafkaAuthMode,
  tls: boolean,
  secretArn: string | undefined,
  rootCaSecretArn: string | undefined,
  region: string | undefined,
  readSecret: SecretReader,
): Promise<KafkaConnectionConfig> {
  const ca = rootCaSecretArn ? [await rootCertificate(rootCaSecretArn, readSecret)] : undefined;
  const ssl = ca ? { ca } : true;
  switch (mode) {
    case 'none':
      return tls ? { ssl } : {};
    case 'iam':
      return {
        ssl,
        sasl: {
          mechanism: 'oauthbearer',
          oauthBearerProvider: mskIamTokenProvider({ region: region ?? '' }),
        },
      };
    case 'scram-sha-512': {
      const secret = await secretJson(secretArn ?? '', readSecret);
      const username = requiredString(secret, 'username', secretArn);
      const password = requiredString(secret, 'password', secretArn);
      return { ...(tls ? { ssl } : {}), sasl: { mechanism: 'scram-sha-512', username, password } };
    }
    case 'mtls': {
      // AWS's format for CLIENT_CERTIFICATE_TLS_AUTH: certificate chain and PKCS#8 key, both PEM.
      const secret = await secretJson(secretArn ?? '', readSecret);
      const cert = requiredString(secret, 'certificate', secretArn);
      const key = requiredString(secret, 'privateKey', secretArn);
      const passphrase = optionalString(secret, 'privateKeyPassword', secretArn);
      return { ssl: { cert, key, ...(passphrase ? { passphrase } : {}), ...(ca ? { ca } : {}) } };
    }
  }
}

/** The SERVER_ROOT_CA_CERTIFICATE secret format: `{"certificate": "<PEM>"}`. */
async function rootCertificate(secretArn: string, readSecret: SecretReader): Promise<string> {
  return requiredString(await secretJson(secretArn, readSecret), 'certificate', secretArn);
}

async function secretJson(secretArn: string, readSecret: SecretReader): Promise<Record<string, unknown>> {
  const raw = await readSecret(secretArn);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new ConfigurationError(`secret ${secretArn} is not JSON`, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigurationError(`secret ${secretArn} must be a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function requiredString(
  secret: Record<string, unknown>,
  field: string,
  secretArn: string | undefined,
): string {
  const value = secret[field];
  if (typeof value !== 'string' || value === '') {
    throw new ConfigurationError(`secret ${secretArn} has no "${field}" string`);
  }
  return value;
}

function optionalString(
  secret: Record<string, unknown>,
  field: string,
  secretArn: string | undefined,
): string | undefined {
  const value = secret[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string')
    throw new ConfigurationError(`secret ${secretArn}: "${field}" must be a string`);
  return value;
}

async function readSecretString(secretId: string): Promise<string> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const response = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretId }));
  if (response.SecretString === undefined) {
    throw new ConfigurationError(`secret ${secretId} has no SecretString (binary secrets are not supported)`);
  }
  return response.SecretString;
}
