/**
 * Outcome signatures (docs/SECURITY.md, "Signed outcomes"): Ed25519 over a domain-separated
 * envelope (purpose, topic, key, value), in headers the collector appends last. Pure: no I/O; the
 * key set comes from the caller. Shared by the functions (sign) and the client and inspect (verify).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';

/** An Ed25519 private key from its JWK parts (base64url). */
export const ed25519PrivateKey = (x: string, d: string): KeyObject =>
  createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x, d }, format: 'jwk' });

/** An Ed25519 public key from its JWK `x` (base64url). */
export const ed25519PublicKey = (x: string): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });

/** The purpose of an outcome signature; no other signature the collector makes uses it. */
export const OUTCOME_PURPOSE = 'eventbus-group-collector/outcome/v1';

/** Headers of a signed outcome, in this order, and no others. */
export const SIGNATURE_HEADERS = {
  keyId: 'collector-key-id',
  signature: 'collector-signature',
} as const;

/** One Ed25519 key of the key set (a JWK, RFC 8037), with `nbf` (epoch seconds): it signs outcomes resolved from then on. */
export interface SigningJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  kid: string;
  /** Public key, base64url (32 bytes). */
  x: string;
  /** Private key, base64url (32 bytes). */
  d: string;
  /** Not before, epoch seconds. */
  nbf: number;
}

/** A parsed key set: the keys that may sign, by `nbf`, oldest first. */
export interface SigningKeySet {
  keys: { kid: string; nbfMs: number; key: KeyObject; publicKey: string }[];
}

export class SigningKeyError extends Error {
  override name = 'SigningKeyError';
}

const KID = /^[A-Za-z0-9._-]{1,64}$/;
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

/** Parses a key set (JSON text or object: `{"keys":[…]}`); throws SigningKeyError naming what is wrong. */
export function parseSigningKeySet(input: string | { keys?: unknown }): SigningKeySet {
  let doc: unknown;
  try {
    doc = typeof input === 'string' ? JSON.parse(input) : input;
  } catch {
    throw new SigningKeyError('the signing key set is not JSON');
  }
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list) || list.length === 0) throw new SigningKeyError('the signing key set has no keys');
  const keys = list.map((k: Partial<SigningJwk>, i) => {
    if (k?.kty !== 'OKP' || k.crv !== 'Ed25519') throw new SigningKeyError(`key ${i} is not an Ed25519 JWK`);
    if (typeof k.kid !== 'string' || !KID.test(k.kid)) throw new SigningKeyError(`key ${i} has no valid kid`);
    if (typeof k.x !== 'string' || !B64URL_32.test(k.x) || typeof k.d !== 'string' || !B64URL_32.test(k.d)) {
      throw new SigningKeyError(`key ${k.kid} needs x and d, 32 bytes each in base64url`);
    }
    if (typeof k.nbf !== 'number' || !Number.isFinite(k.nbf))
      throw new SigningKeyError(`key ${k.kid} has no nbf`);
    const key = ed25519PrivateKey(k.x, k.d);
    // The public key must be the private key's: a mismatch would publish outcomes nobody can verify.
    const derived = (createPublicKey(key).export({ format: 'jwk' }) as { x: string }).x;
    if (derived !== k.x) throw new SigningKeyError(`key ${k.kid}: x is not the public key of d`);
    return { kid: k.kid, nbfMs: k.nbf * 1000, key, publicKey: `${k.kid}:${k.x}` };
  });
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) throw new SigningKeyError('two keys share a kid');
  return { keys: keys.sort((a, b) => a.nbfMs - b.nbfMs) };
}

/** A new key (a JWK for the key set) valid from `nbfMs`. */
export function generateSigningJwk(kid: string, nbfMs: number): SigningJwk {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP', crv: 'Ed25519', kid, x: jwk.x, d: jwk.d, nbf: Math.floor(nbfMs / 1000) };
}

/** The key that signs an outcome resolved at `resolvedMs`: the newest whose nbf is at or before it (else the oldest). */
export function keyFor(set: SigningKeySet, resolvedMs: number): SigningKeySet['keys'][number] {
  let chosen = set.keys[0];
  for (const k of set.keys) if (k.nbfMs <= resolvedMs) chosen = k;
  if (!chosen) throw new SigningKeyError('the signing key set has no keys');
  return chosen;
}

/** What is signed: each part preceded by its length (4 bytes, big-endian), the purpose first. */
export function signingEnvelope(
  purpose: string,
  topic: string,
  key: string | Uint8Array | null,
  value: Uint8Array,
): Buffer {
  const parts = [Buffer.from(purpose, 'utf8'), Buffer.from(topic, 'utf8'), Buffer.from(key ?? ''), value];
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.writeUInt32BE(p.length, at);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/**
 * An outcome's signature as the decision stores it (docs/SECURITY.md, "Signed outcomes"): which key
 * signed, and the Ed25519 signature (base64url). Every copy of the outcome carries it as its headers.
 */
export interface OutcomeSignature {
  keyId: string;
  /** base64url, 86 characters. */
  signature: string;
}

/** Signs an outcome with the key chosen by its `resolved` time. Deterministic (RFC 8032). */
export function outcomeSignature(
  set: SigningKeySet,
  message: { topic: string; key: string | Uint8Array | null; value: Uint8Array; resolvedMs: number },
): OutcomeSignature {
  const signer = keyFor(set, message.resolvedMs);
  const signature = sign(
    null,
    signingEnvelope(OUTCOME_PURPOSE, message.topic, message.key, message.value),
    signer.key,
  );
  return { keyId: signer.kid, signature: signature.toString('base64url') };
}

/** The headers of a signed outcome: the key id, then the signature (the last header). */
export function signatureHeaders(signature: OutcomeSignature): { name: string; value: string }[] {
  return [
    { name: SIGNATURE_HEADERS.keyId, value: signature.keyId },
    { name: SIGNATURE_HEADERS.signature, value: signature.signature },
  ];
}

/** The headers of a signed outcome (key id, then the signature: the last header). Deterministic (RFC 8032). */
export function signOutcome(
  set: SigningKeySet,
  message: { topic: string; key: string | Uint8Array | null; value: Uint8Array; resolvedMs: number },
): { name: string; value: string }[] {
  return signatureHeaders(outcomeSignature(set, message));
}

/** Public keys a verifier trusts, by key id. */
export type OutcomeVerifyingKeys = ReadonlyMap<string, KeyObject>;

/** Parses public keys in the form the stack output and `npm start` print: `kid:x` (x base64url), one or more. */
export function parseOutcomeKeys(keys: readonly string[]): OutcomeVerifyingKeys {
  const map = new Map<string, KeyObject>();
  for (const entry of keys
    .flatMap((k) => k.split(','))
    .map((k) => k.trim())
    .filter(Boolean)) {
    const at = entry.lastIndexOf(':');
    const kid = entry.slice(0, at);
    const x = entry.slice(at + 1);
    if (at <= 0 || !KID.test(kid) || !B64URL_32.test(x)) {
      throw new SigningKeyError(
        `"${entry}" is not an outcome key (kid:x, x the base64url Ed25519 public key)`,
      );
    }
    map.set(kid, ed25519PublicKey(x));
  }
  if (map.size === 0) throw new SigningKeyError('no outcome key given');
  return map;
}

export type Verification = 'valid' | 'unsigned' | 'invalid';

/** A header list as Kafka delivers it: name → value, or values in order for a repeated name. */
export type HeaderLike =
  | readonly { name: string; value: Uint8Array | string }[]
  | Record<string, Uint8Array | string | (Uint8Array | string)[] | undefined>;

/** The last value of a header (the collector's headers come after any an input carried). */
export function lastHeader(headers: HeaderLike | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  let value: Uint8Array | string | undefined;
  if (Array.isArray(headers)) {
    for (const h of headers as readonly { name: string; value: Uint8Array | string }[]) {
      if (h.name === name) value = h.value;
    }
  } else {
    const v = (headers as Record<string, Uint8Array | string | (Uint8Array | string)[] | undefined>)[name];
    value = Array.isArray(v) ? v[v.length - 1] : v;
  }
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
}

/** Checks an outcome record as read from `topic` against the trusted public keys. */
export function verifyOutcome(
  keys: OutcomeVerifyingKeys,
  record: { topic: string; key: string | Uint8Array | null; value: Uint8Array; headers?: HeaderLike },
): Verification {
  const signature = lastHeader(record.headers, SIGNATURE_HEADERS.signature);
  const kid = lastHeader(record.headers, SIGNATURE_HEADERS.keyId);
  if (signature === undefined || kid === undefined) return 'unsigned';
  const key = keys.get(kid);
  if (!key || !/^[A-Za-z0-9_-]{86}$/.test(signature)) return 'invalid';
  const ok = verify(
    null,
    signingEnvelope(OUTCOME_PURPOSE, record.topic, record.key, record.value),
    key,
    Buffer.from(signature, 'base64url'),
  );
  return ok ? 'valid' : 'invalid';
}

/**
 * What a stored signature says of the outcome it was stored with (inspect): `valid` or `invalid`
 * against the key it names; `unknown-key`: that key is not among those given; `not-checked`: no key
 * given; `not-stored`: decided without a signature (signing was off when it was decided).
 */
export type StoredSignatureCheck =
  | { verified: 'valid' | 'invalid' | 'unknown-key' | 'not-checked'; keyId: string }
  | { verified: 'not-stored' };

/** Checks the signature a decision stored against the outcome bytes it was stored with. Pure. */
export function checkStoredSignature(
  keys: OutcomeVerifyingKeys | undefined,
  outcome: { topic: string; key: string; value: Uint8Array; signature: OutcomeSignature | undefined },
): StoredSignatureCheck {
  const { signature } = outcome;
  if (!signature) return { verified: 'not-stored' };
  const { keyId } = signature;
  if (!keys) return { verified: 'not-checked', keyId };
  if (!keys.has(keyId)) return { verified: 'unknown-key', keyId };
  const verdict = verifyOutcome(keys, { ...outcome, headers: signatureHeaders(signature) });
  return { verified: verdict === 'valid' ? 'valid' : 'invalid', keyId };
}
