/**
 * Member capabilities (docs/SECURITY.md, "Member capabilities"): a protected group's id is the hash
 * of its Ed25519 group key (`gk1.` + base64url(SHA-256(public key))), so that every record of it can
 * be checked against its id alone, before its Create. The group key signs the Create, Cancels and
 * Extends and certifies one key per member (derived from the group key and the member id, so nothing
 * per member is stored or sent); the member key signs its report. Each proof is a signature over a
 * purpose, the group id, the member id and the record's value: it binds the content, and a copy of
 * the record is the same record. Pure: no I/O.
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import {
  ed25519PrivateKey,
  ed25519PublicKey,
  type HeaderLike,
  lastHeader,
  signingEnvelope,
} from './signing.ts';

/** How a protected group's id begins. */
export const PROTECTED_PREFIX = 'gk1.';

export const CAPABILITY_HEADERS = {
  groupKey: 'collector-group-key',
  memberKey: 'collector-member-key',
  memberCertificate: 'collector-member-cert',
  proof: 'collector-proof',
} as const;

const PURPOSE = 'eventbus-group-collector';
export const PROOF_PURPOSES = {
  create: `${PURPOSE}/create/v1`,
  report: `${PURPOSE}/report/v1`,
  cancel: `${PURPOSE}/cancel/v1`,
  extend: `${PURPOSE}/extend/v1`,
  member: `${PURPOSE}/member/v1`,
} as const;
export type ProvenKind = 'create' | 'report' | 'cancel' | 'extend';

/** What the owner keeps to create, cancel and extend the group and certify its members (secret). */
export interface GroupCredentials {
  groupId: string;
  /** Group key: public (x) and private (d), base64url. */
  x: string;
  d: string;
}

/** What a member needs to report for itself (secret: give it only to that member). */
export interface MemberCredentials {
  groupId: string;
  member: string;
  /** The group's public key, base64url. */
  groupKey: string;
  /** The member's key: public (x) and private (d), base64url. */
  x: string;
  d: string;
  /** The group key's signature over the member's id and public key, base64url. */
  certificate: string;
}

const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;
const B64URL_SIG = /^[A-Za-z0-9_-]{86}$/;

export const isProtected = (groupId: string) => groupId.startsWith(PROTECTED_PREFIX);

/** The id of the group whose public key is `x` (base64url). */
export function protectedGroupId(x: string): string {
  return PROTECTED_PREFIX + createHash('sha256').update(Buffer.from(x, 'base64url')).digest('base64url');
}

const sig = (key: KeyObject, data: Buffer) => sign(null, data, key).toString('base64url');

/** A new protected group: its key and its id. */
export function newProtectedGroup(): GroupCredentials {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { groupId: protectedGroupId(jwk.x), x: jwk.x, d: jwk.d };
}

/** Ed25519 private key from a 32-byte seed (PKCS#8 DER: a fixed prefix and the seed). */
function keyFromSeed(seed: Buffer): KeyObject {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

/** A member's credentials, derived from the group key (the same every time: nothing to store). */
export function memberCredentials(group: GroupCredentials, member: string): MemberCredentials {
  const seed = Buffer.from(
    hkdfSync(
      'sha256',
      Buffer.from(group.d, 'base64url'),
      group.groupId,
      `${PURPOSE}/member-key/v1/${member}`,
      32,
    ),
  );
  const jwk = keyFromSeed(seed).export({ format: 'jwk' }) as { x: string; d: string };
  const certificate = sig(
    ed25519PrivateKey(group.x, group.d),
    signingEnvelope(PROOF_PURPOSES.member, group.groupId, member, Buffer.from(jwk.x, 'base64url')),
  );
  return { groupId: group.groupId, member, groupKey: group.x, x: jwk.x, d: jwk.d, certificate };
}

/** The headers that prove a Create, Cancel or Extend of the group (its value, as sent). */
export function proveByGroup(
  group: GroupCredentials,
  kind: 'create' | 'cancel' | 'extend',
  value: Uint8Array,
): { name: string; value: string }[] {
  const proof = sig(
    ed25519PrivateKey(group.x, group.d),
    signingEnvelope(PROOF_PURPOSES[kind], group.groupId, '', value),
  );
  return [
    { name: CAPABILITY_HEADERS.groupKey, value: group.x },
    { name: CAPABILITY_HEADERS.proof, value: proof },
  ];
}

/** The headers that prove a member's report (its value, as sent). */
export function proveReport(member: MemberCredentials, value: Uint8Array): { name: string; value: string }[] {
  const proof = sig(
    ed25519PrivateKey(member.x, member.d),
    signingEnvelope(PROOF_PURPOSES.report, member.groupId, member.member, value),
  );
  return [
    { name: CAPABILITY_HEADERS.groupKey, value: member.groupKey },
    { name: CAPABILITY_HEADERS.memberKey, value: member.x },
    { name: CAPABILITY_HEADERS.memberCertificate, value: member.certificate },
    { name: CAPABILITY_HEADERS.proof, value: proof },
  ];
}

/**
 * Checks a protected group's record: undefined when its proof holds, else why not. Only the last
 * header of each name counts. `member` is the reporting member (reports only).
 */
export function verifyCapability(record: {
  groupId: string;
  kind: ProvenKind;
  member?: string;
  value: Uint8Array;
  headers: HeaderLike;
}): string | undefined {
  const { groupId, kind, value, headers } = record;
  const groupKey = lastHeader(headers, CAPABILITY_HEADERS.groupKey);
  const proof = lastHeader(headers, CAPABILITY_HEADERS.proof);
  if (groupKey === undefined || proof === undefined) return 'a protected group\u2019s record needs a proof';
  if (!B64URL_32.test(groupKey) || !B64URL_SIG.test(proof)) return 'malformed proof headers';
  if (protectedGroupId(groupKey) !== groupId) return 'the group key is not the one the group id names';
  const ok = (key: string, purpose: string, member: string, data: Uint8Array, signature: string) =>
    verify(
      null,
      signingEnvelope(purpose, groupId, member, data),
      ed25519PublicKey(key),
      Buffer.from(signature, 'base64url'),
    );
  if (kind !== 'report') {
    return ok(groupKey, PROOF_PURPOSES[kind], '', value, proof)
      ? undefined
      : `the ${kind} proof does not verify`;
  }
  const member = record.member ?? '';
  const memberKey = lastHeader(headers, CAPABILITY_HEADERS.memberKey);
  const certificate = lastHeader(headers, CAPABILITY_HEADERS.memberCertificate);
  if (memberKey === undefined || certificate === undefined)
    return 'a report needs its member key and certificate';
  if (!B64URL_32.test(memberKey) || !B64URL_SIG.test(certificate)) return 'malformed member headers';
  if (!ok(groupKey, PROOF_PURPOSES.member, member, Buffer.from(memberKey, 'base64url'), certificate)) {
    return `the member certificate is not the group's for member "${member}"`;
  }
  return ok(memberKey, PROOF_PURPOSES.report, member, value, proof)
    ? undefined
    : 'the report proof does not verify';
}

/** A proven record's identity: its proof (signatures are deterministic; a copy has the same one). */
export function proofIdentity(headers: HeaderLike): string | undefined {
  const proof = lastHeader(headers, CAPABILITY_HEADERS.proof);
  return proof === undefined
    ? undefined
    : createHash('sha256').update(proof).digest('base64url').slice(0, 32);
}
