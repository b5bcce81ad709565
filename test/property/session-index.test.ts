import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionIndex } from '../../src/store/session/session-index.js';

describe("the writer session's UDID → id table", () => {
  it('finds every UDID it was given, and no other, through growth and shared first words', () => {
    // First words from a small set: many UDIDs share a slot, so probe chains are long and cross the table's end.
    const udid = fc.tuple(fc.integer({ min: -3, max: 3 }), fc.integer(), fc.integer(), fc.integer());
    fc.assert(
      fc.property(fc.array(udid, { maxLength: 3000 }), fc.array(udid, { maxLength: 50 }), (added, probes) => {
        let words = new Int32Array(4 * 16);
        const index = new SessionIndex(words, 4);
        const model = new Map<string, number>();
        let next = 1;
        for (const [a, b, c, d] of added) {
          const found = index.find(a, b, c, d);
          const key = `${a},${b},${c},${d}`;
          expect(found > 0 ? found : 0).toBe(model.get(key) ?? 0);
          if (found > 0) continue;
          const id = next++;
          if (4 * (id + 1) > words.length) {
            const bigger = new Int32Array(words.length * 2);
            bigger.set(words);
            index.words = words = bigger;
          }
          words.set([a, b, c, d], id * 4);
          index.addAt(found, a, id);
          model.set(key, id);
        }
        expect(index.size).toBe(model.size);
        for (const [a, b, c, d] of [...added, ...probes]) expect(index.getWords(a, b, c, d)).toBe(model.get(`${a},${b},${c},${d}`) ?? 0);
      }),
      { numRuns: 200 },
    );
  });
});
