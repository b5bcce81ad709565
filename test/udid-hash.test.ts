// The writer's in-memory UDID → id table (src/store/udid-index.ts) against a
// Map, under any interleaving of lookups, misses and inserts, through growth.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UdidIndex } from '../src/store/udid-index.js';

const word = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
// Few distinct first words, so keys collide on their slot and probe chains form.
const key = fc.tuple(fc.integer({ min: 0, max: 7 }), word, word, word);
const op = fc.oneof(
  fc.record({ kind: fc.constant('get' as const), key }),
  fc.record({ kind: fc.constant('getThenAdd' as const), key }),
  fc.record({ kind: fc.constant('missOtherThenAdd' as const), key, other: key }),
);

describe('UdidIndex', () => {
  it('finds exactly what was added, whatever lookups came between', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const index = new UdidIndex(4);
        const model = new Map<string, number>();
        const name = (k: readonly number[]) => k.join(',');
        let next = 1;
        for (const o of ops) {
          const [a, b, c, d] = o.key;
          const found = index.getWords(a, b, c, d);
          expect(found).toBe(model.get(name(o.key)) ?? 0);
          if (o.kind === 'get' || found !== 0) continue;
          // The add that follows a miss may reuse the miss's slot, but only for that key.
          if (o.kind === 'missOtherThenAdd') index.getWords(...o.other);
          index.addWords(a, b, c, d, next);
          model.set(name(o.key), next++);
        }
        expect(index.size).toBe(model.size);
        for (const [k, id] of model) {
          const [a, b, c, d] = k.split(',').map(Number) as [number, number, number, number];
          expect(index.getWords(a, b, c, d)).toBe(id);
        }
      }),
      { numRuns: 300 },
    );
  });
});
