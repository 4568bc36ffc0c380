/**
 * How a command reaches a secured Kafka cluster: TLS (with a private CA), SASL/SCRAM or PLAIN, or
 * MSK IAM (OAUTHBEARER tokens from AWS's signer). The options, their help text, and the kafkajs
 * `ssl` / `sasl` settings they make. Passwords come from the environment rather than the command line.
 */
import { readFileSync } from 'node:fs';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { mskIamTokenProvider } from '../functions/shared/msk-iam.ts';
import { UsageError } from './errors.ts';

export const SASL_MECHANISMS = ['scram-sha-512', 'scram-sha-256', 'plain'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** Environment variables for the SASL credentials (a password on the command line shows in `ps`). */
export const CONNECTION_ENV = {
  username: 'KAFKA_SASL_USERNAME',
  password: 'KAFKA_SASL_PASSWORD',
} as const;

/** `parseArgs` options of the connection, to spread into a command's options. */
export const CONNECTION_OPTIONS = {
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  'sasl-mechanism': { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  'msk-iam': { type: 'boolean' },
  region: { type: 'string' },
} as const;

export const CONNECTION_USAGE = `connection (default: plain text, no authentication):
  --tls                  connect with TLS, trusting Node's CA certificates (implied by --ca, --msk-iam)
  --ca FILE              trust the CA certificates of this PEM file instead (a private CA)
  --sasl-mechanism M     ${SASL_MECHANISMS.join(', ')}: sign in as --username (default
                         $${CONNECTION_ENV.username}) with the password $${CONNECTION_ENV.password} (or --password)
  --msk-iam              Amazon MSK with IAM access control: SASL/OAUTHBEARER tokens signed with the
                         AWS SDK's default credentials (environment, AWS_PROFILE, role), over TLS
  --region REGION        the MSK cluster's Region (default: $AWS_REGION, else $AWS_DEFAULT_REGION)`;

export interface ConnectionValues {
  readonly tls?: boolean;
  readonly ca?: string;
  readonly 'sasl-mechanism'?: string;
  readonly username?: string;
  readonly password?: string;
  readonly 'msk-iam'?: boolean;
  readonly region?: string;
}

export type Connection = Pick<KafkaConfig, 'ssl' | 'sasl'>;

/** The kafkajs `ssl` and `sasl` settings for the options; UsageError for a contradictory or incomplete set. */
export function connectionOf(
  values: ConnectionValues,
  env: Readonly<Record<string, string | undefined>>,
): Connection {
  const mechanism = values['sasl-mechanism'];
  const iam = values['msk-iam'] === true;
  if (mechanism !== undefined && !(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new UsageError(`--sasl-mechanism must be one of ${SASL_MECHANISMS.join(', ')}; got "${mechanism}"`);
  }
  if (iam && mechanism !== undefined) {
    throw new UsageError('--msk-iam and --sasl-mechanism are two ways to sign in: give one');
  }
  const username = values.username ?? (env[CONNECTION_ENV.username] || undefined);
  const password = values.password ?? (env[CONNECTION_ENV.password] || undefined);
  if (mechanism === undefined && (values.username !== undefined || values.password !== undefined)) {
    throw new UsageError(`--username and --password need --sasl-mechanism (${SASL_MECHANISMS.join(', ')})`);
  }
  if (values.region !== undefined && !iam) {
    throw new UsageError('--region is the MSK cluster’s Region for --msk-iam: add --msk-iam or drop it');
  }
  const ssl = tlsOf(values, iam);
  if (iam) {
    const region = values.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
    if (!region) {
      throw new UsageError('--msk-iam signs for the cluster’s Region: give --region or set AWS_REGION');
    }
    return { ssl, sasl: { mechanism: 'oauthbearer', oauthBearerProvider: mskIamTokenProvider({ region }) } };
  }
  if (mechanism !== undefined) {
    const missing = [
      ...(username ? [] : [`--username (or $${CONNECTION_ENV.username})`]),
      ...(password ? [] : [`$${CONNECTION_ENV.password} (or --password)`]),
    ];
    if (missing.length > 0 || !username || !password) {
      throw new UsageError(`--sasl-mechanism ${mechanism} needs ${missing.join(' and ')}`);
    }
    const sasl = saslOf(mechanism as SaslMechanism, username, password);
    return ssl === undefined ? { sasl } : { ssl, sasl };
  }
  return ssl === undefined ? {} : { ssl };
}

function tlsOf(values: ConnectionValues, iam: boolean): Connection['ssl'] {
  if (values.ca !== undefined) {
    let ca: string;
    try {
      ca = readFileSync(values.ca, 'utf8');
    } catch (error) {
      throw new UsageError(`--ca ${values.ca}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new UsageError(`--ca ${values.ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    }
    return { ca: [ca] };
  }
  return values.tls || iam ? true : undefined;
}

function saslOf(mechanism: SaslMechanism, username: string, password: string): SASLOptions {
  switch (mechanism) {
    case 'scram-sha-512':
      return { mechanism, username, password };
    case 'scram-sha-256':
      return { mechanism, username, password };
    case 'plain':
      return { mechanism, username, password };
  }
}
