import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CAPABILITY_HEADERS,
  memberCredentials,
  newProtectedGroup,
  protectedGroupId,
  proveByGroup,
  proveReport,
  verifyCapability,
} from '#core/capabilities.ts';

const g = newProtectedGroup();
const value = (text: string) => Buffer.from(text);

describe('member capabilities', () => {
  it('the group id is the hash of the group key, and a member’s credentials are the same each time', () => {
    // Act / Assess
    expect(g.groupId).toBe(protectedGroupId(g.x));
    expect(g.groupId).toMatch(/^gk1\.[A-Za-z0-9_-]{43}$/);
    expect(memberCredentials(g, 'a')).toEqual(memberCredentials(g, 'a'));
    expect(memberCredentials(g, 'a').x).not.toBe(memberCredentials(g, 'b').x);
  });

  it('each proof verifies for its own purpose only: a Cancel’s proof is no Extend’s, a Create’s no Cancel’s', () => {
    // Prepare
    const v = value('{"type":"EventGroupCollectorCancel"}');
    const headers = proveByGroup(g, 'cancel', v);

    // Act / Assess
    expect(verifyCapability({ groupId: g.groupId, kind: 'cancel', value: v, headers })).toBeUndefined();
    expect(verifyCapability({ groupId: g.groupId, kind: 'extend', value: v, headers })).toMatch(
      /does not verify/,
    );
    expect(verifyCapability({ groupId: g.groupId, kind: 'create', value: v, headers })).toMatch(
      /does not verify/,
    );
  });

  it('a proof header an input put before the genuine one does not count; one after it replaces it and fails', () => {
    // Prepare
    const v = value('{"id":"a"}');
    const genuine = proveReport(memberCredentials(g, 'a'), v);
    const forged = [{ name: CAPABILITY_HEADERS.proof, value: 'A'.repeat(86) }];

    const verifyWith = (headers: typeof genuine) =>
      verifyCapability({ groupId: g.groupId, kind: 'report', member: 'a', value: v, headers });

    // Act / Assess
    expect(verifyWith([...forged, ...genuine])).toBeUndefined();
    expect(verifyWith([...genuine, ...forged])).toBeDefined();
  });

  it('attack 6: the proofs’ size does not grow with the group: a 10,000-member Create carries one 32-byte key', () => {
    // Prepare
    const expected = Array.from({ length: 10_000 }, (_, i) => `member-${i}`);
    const create = value(JSON.stringify({ id: g.groupId, type: 'EventGroupCollectorCreate', expected }));

    // Act
    const small = proveByGroup(g, 'create', value('{}'));
    const large = proveByGroup(g, 'create', create);
    const report = proveReport(memberCredentials(g, 'member-9999'), value('{}'));
    const size = (hs: { name: string; value: string }[]) =>
      hs.reduce((n, h) => n + h.name.length + h.value.length, 0);

    // Assess
    expect(size(large)).toBe(size(small));
    expect(size(large)).toBeLessThan(200);
    expect(size(report)).toBeLessThan(400);
  });

  it('property: a report verifies for its member and value only', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.string({ maxLength: 50 }),
        fc.string({ minLength: 1, maxLength: 20 }),
        (member, text, other) => {
          const v = value(text);
          const headers = proveReport(memberCredentials(g, member), v);
          expect(
            verifyCapability({ groupId: g.groupId, kind: 'report', member, value: v, headers }),
          ).toBeUndefined();
          if (other !== member) {
            expect(
              verifyCapability({ groupId: g.groupId, kind: 'report', member: other, value: v, headers }),
            ).toBeDefined();
          }
          expect(
            verifyCapability({
              groupId: g.groupId,
              kind: 'report',
              member,
              value: value(`${text}x`),
              headers,
            }),
          ).toBeDefined();
        },
      ),
      { numRuns: 50 },
    );
  });
});
