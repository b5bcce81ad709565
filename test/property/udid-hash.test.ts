// The in-memory UDID → id tables against a Map, under any interleaving of
// lookups, misses and inserts, through growth: UdidIndex (src/store/udid-index.ts,
// words in its slots) and SessionIndex (src/store/session/session-index.ts, the writer's:
// words in the session's table by id).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionIndex } from '../../src/store/session/session-index.js';
import { UdidIndex } from '../../src/store/udid-index.js';

// Few distinct values per word, so keys collide on their slot (first word) and probe chains
// form, and two keys may differ in any one word only: a lookup must compare all four.
const word = fc.constantFrom(0, 1, -1, 2 ** 31 - 1, -(2 ** 31));
const key = fc.tuple(fc.integer({ min: 0, max: 7 }), word, word, word);
const op = fc.oneof(
  fc.record({ kind: fc.constant('get' as const), key }),
  fc.record({ kind: fc.constant('getThenAdd' as const), key }),
);

interface Table {
  getWords(a: number, b: number, c: number, d: number): number;
  addWords(a: number, b: number, c: number, d: number, id: number): void;
  readonly size: number;
}

/** SessionIndex adds at the slot its lookup found; it reads the words other than the first from its `words`. */
class SessionTable implements Table {
  constructor(private readonly index: SessionIndex) {}
  getWords(a: number, b: number, c: number, d: number): number {
    return this.index.getWords(a, b, c, d);
  }
  addWords(a: number, b: number, c: number, d: number, id: number): void {
    this.index.addAt(this.index.find(a, b, c, d), a, id);
  }
  get size(): number {
    return this.index.size;
  }
}

/** A fresh table, and what to do before `id` is added for `key` (SessionIndex reads the words by id). */
const tables: [string, () => { table: Table; before: (id: number, key: readonly number[]) => void }][] = [
  ['UdidIndex', () => ({ table: new UdidIndex(4), before: () => {} })],
  [
    'SessionIndex',
    () => {
      const words = new Int32Array(4 * 512);
      return { table: new SessionTable(new SessionIndex(words, 4)), before: (id, key) => words.set(key, id * 4) };
    },
  ],
];

describe.each(tables)('%s', (_name, make) => {
  it('finds exactly what was added, whatever lookups came between', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const { table: index, before } = make();
        const model = new Map<string, number>();
        const name = (k: readonly number[]) => k.join(',');
        let next = 1;
        for (const o of ops) {
          const [a, b, c, d] = o.key;
          const found = index.getWords(a, b, c, d);
          expect(found).toBe(model.get(name(o.key)) ?? 0);
          if (o.kind === 'get' || found !== 0) continue;
          before(next, o.key);
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
