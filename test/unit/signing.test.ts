import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeadLetterError } from '#core/errors.ts';
import {
  checkStoredSignature,
  generateSigningJwk,
  keyFor,
  lastHeader,
  OUTCOME_PURPOSE,
  outcomeSignature,
  parseOutcomeKeys,
  parseSigningKeySet,
  SIGNATURE_HEADERS,
  SigningKeyError,
  signatureHeaders,
  signingEnvelope,
  signOutcome,
  verifyOutcome,
} from '#core/signing.ts';
import type { OutgoingMessage, Publisher } from '#publish/publisher.ts';
import { OutcomeSigner, SigningPublisher } from '#publish/signing.ts';
import { deadLetterMessage } from '#service/dead-letters.ts';
import { outcomeMessage } from '#service/decider.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-07T00:00:00Z');
const first = generateSigningJwk('k1', T0);
const second = generateSigningJwk('k2', T0 + 24 * HOUR);
const oneKey = parseSigningKeySet({ keys: [first] });
const twoKeys = parseSigningKeySet(JSON.stringify({ keys: [second, first] }));
const trusted = parseOutcomeKeys(twoKeys.keys.map((k) => k.publicKey));

const outcome = (id: string, resolved = '2026-12-07T10:00:00.000Z') =>
  Buffer.from(
    `{"type":"EventGroupCollectorSuccess","id":"${id}","created":"2026-12-07T09:59:59.000Z","resolved":"${resolved}","results":{"a":1}}`,
  );

describe('outcome signatures', () => {
  it('a signed outcome verifies, and the same decision signs to the same headers (deterministic)', () => {
    // Prepare
    const message = { topic: 'out', key: 'g1', value: outcome('g1'), resolvedMs: T0 + HOUR };

    // Act
    const headers = signOutcome(oneKey, message);
    const again = signOutcome(oneKey, { ...message, value: Buffer.from(message.value) });

    // Assess
    expect(headers.map((h) => h.name)).toEqual([SIGNATURE_HEADERS.keyId, SIGNATURE_HEADERS.signature]);
    expect(again).toEqual(headers);
    expect(verifyOutcome(trusted, { ...message, headers })).toBe('valid');
  });

  it('the signature binds purpose, topic, key and value: a change to any is invalid', () => {
    // Prepare
    const message = { topic: 'out', key: 'g1', value: outcome('g1'), resolvedMs: T0 + HOUR };
    const headers = signOutcome(oneKey, message);

    // Act
    const verdicts = {
      topic: verifyOutcome(trusted, { ...message, topic: 'replies', headers }),
      key: verifyOutcome(trusted, { ...message, key: 'g2', headers }),
      value: verifyOutcome(trusted, { ...message, value: outcome('g2'), headers }),
      unsigned: verifyOutcome(trusted, { ...message, headers: [] }),
      unknownKey: verifyOutcome(parseOutcomeKeys([twoKeys.keys[1]?.publicKey ?? '']), {
        ...message,
        headers,
      }),
    };

    // Assess
    expect(verdicts).toEqual({
      topic: 'invalid',
      key: 'invalid',
      value: 'invalid',
      unsigned: 'unsigned',
      unknownKey: 'invalid',
    });
  });

  it('lengths frame every part: moving bytes between topic and key changes the envelope', () => {
    // Act
    const a = signingEnvelope(OUTCOME_PURPOSE, 'ab', 'c', Buffer.from('v'));
    const b = signingEnvelope(OUTCOME_PURPOSE, 'a', 'bc', Buffer.from('v'));
    const otherPurpose = signingEnvelope(
      'eventbus-group-collector/dead-letter/v1',
      'ab',
      'c',
      Buffer.from('v'),
    );

    // Assess
    expect(a.equals(b)).toBe(false);
    expect(a.equals(otherPurpose)).toBe(false);
  });

  it('only the last signature header counts: one an input put before the collector’s is ignored, one after is not the collector’s', () => {
    // Prepare
    const message = { topic: 'out', key: 'g1', value: outcome('g1'), resolvedMs: T0 + HOUR };
    const genuine = signOutcome(oneKey, message);
    const forged = [
      { name: SIGNATURE_HEADERS.keyId, value: 'k1' },
      { name: SIGNATURE_HEADERS.signature, value: 'A'.repeat(86) },
    ];

    // Act
    const injectedBefore = verifyOutcome(trusted, { ...message, headers: [...forged, ...genuine] });
    const injectedAfter = verifyOutcome(trusted, { ...message, headers: [...genuine, ...forged] });
    const asKafkaObject = verifyOutcome(trusted, {
      ...message,
      headers: {
        [SIGNATURE_HEADERS.keyId]: ['k1', 'k1'],
        [SIGNATURE_HEADERS.signature]: [Buffer.from('A'.repeat(86)), Buffer.from(genuine[1]?.value ?? '')],
      },
    });

    // Assess
    expect(injectedBefore).toBe('valid');
    expect(injectedAfter).toBe('invalid');
    expect(asKafkaObject).toBe('valid');
    expect(lastHeader([...forged, ...genuine], SIGNATURE_HEADERS.signature)).toBe(genuine[1]?.value);
  });

  it('the key is chosen by the decision time: before the new key’s nbf the old one signs, so a copy republished after the rotation is identical', () => {
    // Prepare: decided under one key, republished once the set holds two
    const message = { topic: 'out', key: 'g1', value: outcome('g1'), resolvedMs: T0 + HOUR };
    const before = signOutcome(oneKey, message);

    // Act
    const after = signOutcome(twoKeys, message);
    const later = signOutcome(twoKeys, { ...message, resolvedMs: T0 + 25 * HOUR });

    // Assess
    expect(after).toEqual(before);
    expect(keyFor(twoKeys, T0 + 25 * HOUR).kid).toBe('k2');
    expect(later[0]?.value).toBe('k2');
    expect(verifyOutcome(trusted, { ...message, headers: later })).toBe('valid');
  });

  it('refuses a key set whose public key is not its private key’s, and malformed public keys', () => {
    // Act / Assess
    expect(() => parseSigningKeySet({ keys: [{ ...first, x: second.x }] })).toThrow(SigningKeyError);
    expect(() => parseSigningKeySet('{')).toThrow(SigningKeyError);
    expect(() => parseOutcomeKeys(['no-colon'])).toThrow(SigningKeyError);
    expect(parseOutcomeKeys([`${twoKeys.keys[0]?.publicKey},${twoKeys.keys[1]?.publicKey}`]).size).toBe(2);
  });

  it('property: any outcome signed verifies; any one byte changed in it does not', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 40 }),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (topic, key, value, at, flip) => {
          const message = { topic, key, value, resolvedMs: T0 };
          const headers = signOutcome(oneKey, message);
          const changed = Uint8Array.from(value);
          const i = at % changed.length;
          changed[i] = (changed[i] ?? 0) ^ flip;
          expect(verifyOutcome(trusted, { ...message, headers })).toBe('valid');
          expect(verifyOutcome(trusted, { ...message, value: changed, headers })).toBe('invalid');
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('the signing publisher', () => {
  const recording = () => {
    const sent: OutgoingMessage[] = [];
    const publisher: Publisher = {
      publish: async (messages) => {
        sent.push(...messages);
      },
      disconnect: async () => {},
    };
    return { sent, publisher };
  };

  it('signs outcomes and passes dead letters through unsigned, the original headers first and the collector’s last', async () => {
    // Prepare: a forged success, refused, carrying its own signature and dead-letter headers
    const { sent, publisher } = recording();
    const signing = new SigningPublisher(publisher, new OutcomeSigner(async () => oneKey));
    const forged = outcome('victim');
    const dead = deadLetterMessage(
      {
        key: Buffer.from('victim'),
        value: forged,
        headers: [
          { name: SIGNATURE_HEADERS.keyId, value: Buffer.from('k1') },
          { name: SIGNATURE_HEADERS.signature, value: Buffer.from('A'.repeat(86)) },
          { name: 'collector-dlq-reason', value: Buffer.from('none') },
        ],
        origin: { topic: 'in', partition: 0, offset: 7 },
      },
      new DeadLetterError('value-too-large', 'too large'),
      'dlq',
    );

    // Act
    await signing.publish([
      { destination: 'out', key: 'g1', value: outcome('g1'), outcome: { resolvedMs: T0 + HOUR } },
      dead,
      { destination: 'out', key: 'g2', value: outcome('g2'), outcome: {} },
    ]);

    // Assess
    const [signed, deadLetter, fromBytes] = sent;
    expect(
      verifyOutcome(trusted, { topic: 'out', key: 'g1', value: outcome('g1'), headers: signed?.headers }),
    ).toBe('valid');
    expect(deadLetter).toBe(dead);
    expect(lastHeader(deadLetter?.headers, 'collector-dlq-reason')).toBe('value-too-large');
    expect(
      verifyOutcome(trusted, { topic: 'out', key: 'victim', value: forged, headers: deadLetter?.headers }),
    ).toBe('invalid');
    expect(
      verifyOutcome(trusted, { topic: 'out', key: 'g2', value: outcome('g2'), headers: fromBytes?.headers }),
    ).toBe('valid');
  });

  it('loads the key set once and keeps it; a failed refresh keeps the set already loaded', async () => {
    // Prepare
    const { publisher } = recording();
    let now = 0;
    let loads = 0;
    const signing = new SigningPublisher(
      publisher,
      new OutcomeSigner(
        async () => {
          loads++;
          if (loads > 1) throw new Error('throttled');
          return oneKey;
        },
        1000,
        () => now,
      ),
    );
    const send = () =>
      signing.publish([{ destination: 'out', key: 'g', value: outcome('g'), outcome: { resolvedMs: T0 } }]);

    // Act
    await Promise.all([send(), send()]);
    now = 2000;
    await send();

    // Assess
    expect(loads).toBe(2);
  });

  it('publishes an outcome with the signature its decision stored, without loading the key set (its key may be gone)', async () => {
    // Prepare: the decision's signature, made by a key the publisher's key set no longer holds
    const { sent, publisher } = recording();
    let loads = 0;
    const signing = new SigningPublisher(
      publisher,
      new OutcomeSigner(async () => {
        loads++;
        return parseSigningKeySet({ keys: [generateSigningJwk('k-new', T0 / 1000)] });
      }),
    );
    const stored = outcomeSignature(oneKey, {
      topic: 'out',
      key: 'g1',
      value: outcome('g1'),
      resolvedMs: T0 + HOUR,
    });

    // Act
    await signing.publish([outcomeMessage('out', 'g1', outcome('g1'), T0 + HOUR, stored)]);

    // Assess
    expect(loads).toBe(0);
    expect(sent[0]?.headers).toEqual(signatureHeaders(stored));
    expect(
      verifyOutcome(trusted, { topic: 'out', key: 'g1', value: outcome('g1'), headers: sent[0]?.headers }),
    ).toBe('valid');
  });
});

describe('a stored signature checked against its outcome (inspect)', () => {
  const stored = (value: Uint8Array) =>
    outcomeSignature(oneKey, { topic: 'out', key: 'g1', value, resolvedMs: T0 + HOUR });

  it('valid with the key it names; invalid over other bytes or another topic', () => {
    // Prepare
    const value = outcome('g1');
    const signature = stored(value);

    // Act
    const checks = [
      checkStoredSignature(trusted, { topic: 'out', key: 'g1', value, signature }),
      checkStoredSignature(trusted, {
        topic: 'out',
        key: 'g1',
        value: outcome('g1', '2026-12-07T11:00:00.000Z'),
        signature,
      }),
      checkStoredSignature(trusted, { topic: 'elsewhere', key: 'g1', value, signature }),
    ];

    // Assess
    expect(checks).toEqual([
      { verified: 'valid', keyId: 'k1' },
      { verified: 'invalid', keyId: 'k1' },
      { verified: 'invalid', keyId: 'k1' },
    ]);
  });

  it('says which key it could not check, that no key was given, or that no signature was stored', () => {
    // Prepare
    const value = outcome('g1');
    const signature = stored(value);
    const onlySecond = parseOutcomeKeys(twoKeys.keys.filter((k) => k.kid === 'k2').map((k) => k.publicKey));

    // Act
    const checks = [
      checkStoredSignature(onlySecond, { topic: 'out', key: 'g1', value, signature }),
      checkStoredSignature(undefined, { topic: 'out', key: 'g1', value, signature }),
      checkStoredSignature(trusted, { topic: 'out', key: 'g1', value, signature: undefined }),
    ];

    // Assess
    expect(checks).toEqual([
      { verified: 'unknown-key', keyId: 'k1' },
      { verified: 'not-checked', keyId: 'k1' },
      { verified: 'not-stored' },
    ]);
  });
});
