/**
 * A local broker that requires TLS, SASL/SCRAM-SHA-512 and Kafka ACLs, for trying secured clients
 * (the CLI's connection options, the client with a full kafkajs configuration) without a cloud
 * cluster. Its certificate is made at start with Java's keytool: self-signed, for 127.0.0.1 and
 * localhost, valid two days; clients trust it through the PEM file `caFile`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KafkaNode, startKafka } from './kafka.ts';
import { freePort, run } from './process.ts';

export interface SecuredKafkaOptions {
  readonly dataDir: string;
  /** SCRAM-SHA-512 users, created with the storage. */
  readonly users: readonly { readonly name: string; readonly password: string }[];
  /** Users allowed everything (an administrator that creates topics and ACLs); the others need ACLs. */
  readonly superUsers: readonly string[];
}

export interface SecuredKafkaNode extends KafkaNode {
  /** The broker's certificate (PEM), the one CA a client must trust. */
  readonly caPem: string;
  readonly caFile: string;
}

export async function startSecuredKafka(options: SecuredKafkaOptions): Promise<SecuredKafkaNode> {
  const tlsDir = join(options.dataDir, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  const keystore = join(tlsDir, 'broker.p12');
  const caFile = join(tlsDir, 'ca.pem');
  const keystorePassword = randomBytes(12).toString('hex');
  const store = ['-keystore', keystore, '-storetype', 'PKCS12', '-storepass', keystorePassword];
  await run('keytool', [
    '-genkeypair',
    '-alias',
    'broker',
    '-keyalg',
    'EC',
    '-groupname',
    'secp256r1',
    '-validity',
    '2',
    '-dname',
    'CN=localhost',
    '-ext',
    'SAN=ip:127.0.0.1,dns:localhost',
    ...store,
    '-keypass',
    keystorePassword,
  ]);
  await run('keytool', ['-exportcert', '-rfc', '-alias', 'broker', ...store, '-file', caFile]);
  const node = await startKafka({
    port: await freePort(),
    controllerPort: await freePort(),
    dataDir: join(options.dataDir, 'kafka'),
    secured: {
      keystore,
      keystorePassword,
      users: options.users,
      superUsers: options.superUsers,
      internalPort: await freePort(),
    },
  });
  return Object.assign(node, { caPem: readFileSync(caFile, 'utf8'), caFile });
}
