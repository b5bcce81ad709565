/**
 * Params fingerprints (docs/design.md §6) on random JSON: the same value in
 * any key order has one fingerprint, the canonical text reads back as the
 * value, and two values with different canonical texts never share a hash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, paramsFingerprint } from '../../src/model/stage-params.js';

/** A deep copy with every object's keys in a shuffled order (the seed picks the order). */
function reordered(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => reordered(v, seed + i));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  const order = keys.map((k, i) => [((seed + 1) * 2654435761 * (i + 1)) % 1000003, k] as const).sort((a, b) => a[0] - b[0]);
  // fromEntries, not assignment: a key "__proto__" stays a key.
  return Object.fromEntries(order.map(([, k]) => [k, reordered((value as Record<string, unknown>)[k], seed * 7 + 1)]));
}

const canonical = (v: unknown) => canonicalJson('s', v, 'params', new Set());

describe('params fingerprints', () => {
  it('do not depend on key order, and the canonical text reads back as the value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), (value, seed) => {
        const other = reordered(value, seed);
        expect(paramsFingerprint('s', other)).toEqual(paramsFingerprint('s', value));
        const text = canonical(value);
        expect(canonical(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('keep a key named "__proto__" (JSON.parse makes one) as a key of its own', () => {
    const a = paramsFingerprint('s', JSON.parse('{"__proto__": [1], "b": 2}'));
    const b = paramsFingerprint('s', JSON.parse('{"__proto__": [2], "b": 2}'));
    expect(Object.keys(a.paramKeys!)).toEqual(['__proto__', 'b']);
    expect(a.paramKeys!['__proto__']).not.toBe(b.paramKeys!['__proto__']);
    expect(a.params).not.toBe(b.params);
  });

  it('differ whenever the canonical texts differ, key by key too', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.dictionary(fc.string(), fc.jsonValue()), (a, b) => {
        const fa = paramsFingerprint('s', a);
        const fb = paramsFingerprint('s', b);
        expect(fa.params === fb.params).toBe(canonical(a) === canonical(b));
        for (const k of Object.keys(a)) {
          if (!Object.hasOwn(b, k)) continue;
          expect(fa.paramKeys![k] === fb.paramKeys![k]).toBe(canonical(a[k]) === canonical(b[k]));
        }
      }),
      { numRuns: 300 },
    );
  });
});
