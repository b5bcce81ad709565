import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, childLineage, childPath, lp, rootLineage, rootPath, udidOf, type Slot } from '../../src/index.js';
import { digestOf, trustedUdidWords, isUdid, parseUdidWords } from '../../src/identity/udid.js';
import { madeUdid, lineageNote, noteLineage } from '../../src/identity/lineage.js';
import { assignChildLineage } from '../../src/runner/assign-child-lineage.js';

interface Vector {
  path: string;
  udid: string;
  build: { root?: string; stage?: string; parents?: string[]; slot?: Slot };
}
const { vectors } = JSON.parse(readFileSync(new URL('../../fixtures/identity-vectors.json', import.meta.url), 'utf8')) as {
  vectors: Vector[];
};
const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);

describe('identity vectors (docs/design.md §2)', () => {
  it.each(vectors.map((v) => [v.path, v] as const))('%s', (_path, v) => {
    expect(udidOf(v.path)).toBe(v.udid);
    const built = v.build.root !== undefined ? rootPath(v.build.root) : childPath(v.build.stage!, v.build.parents!, v.build.slot!);
    expect(built).toBe(v.path);
  });

  it('measures lp() in UTF-8 bytes, not UTF-16 units', () => {
    expect(lp('données/ünï.jsonl')).toBe('20:données/ünï.jsonl');
    expect(lp('😀')).toBe('4:😀');
  });
});

describe('childLineage', () => {
  it('does not depend on parent order, and duplicate parents count once', () => {
    fc.assert(
      fc.property(fc.uniqueArray(hex32, { minLength: 1, maxLength: 6 }), fc.nat(), fc.nat({ max: 20 }), (parents, seed, slot) => {
        const shuffled = [...parents].sort(() => ((seed = (seed * 1103515245 + 12345) >>> 0) & 1 ? 1 : -1));
        const doubled = [...shuffled, ...parents.slice(0, 2)];
        const a = childLineage('merge', parents, slot);
        expect(childLineage('merge', shuffled, slot).udid).toBe(a.udid);
        expect(childLineage('merge', doubled, slot).udid).toBe(a.udid);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps stage ids, slots and keys apart that a naive join would confuse', () => {
    const p = rootLineage('a').udid;
    const ids = new Set([
      childLineage('s', [p], 1).udid,
      childLineage('s', [p], 11).udid,
      childLineage('s1', [p], 1).udid,
      childLineage('s', [p], { key: '1' }).udid,
      childLineage('s', [p], { key: 'i1' }).udid,
      rootLineage('0_1').udid,
      rootLineage('0').udid,
    ]);
    expect(ids.size).toBe(7);
  });

  it('carries the source key it is given', () => {
    const root = rootLineage('part-0000.jsonl');
    expect(childLineage('split', [root.udid], 0, root.sourceKey).sourceKey).toBe('part-0000.jsonl');
  });
});

describe('the note on a lineage (what the recorder remembers on it)', () => {
  it('is for one recorder and one UDID, and invisible to JSON, spreads and equality', () => {
    const root = rootLineage('part-1');
    const a = {};
    const b = {};
    expect(lineageNote(root, a)).toBe(0);
    noteLineage(root, a, 7);
    expect(lineageNote(root, a)).toBe(7);
    expect(lineageNote(root, b)).toBe(0);
    expect(JSON.stringify(root)).toBe(JSON.stringify({ path: root.path, udid: root.udid, sourceKey: 'part-1' }));
    expect({ ...root }).toEqual({ path: root.path, udid: root.udid, sourceKey: 'part-1' });
    expect(root).toEqual(rootLineage('part-1'));
    // Plain objects and strings carry none.
    noteLineage({ ...root }, a, 9);
    expect(lineageNote({ ...root }, a)).toBe(0);
    expect(lineageNote(root.udid, a)).toBe(0);
    // A lineage whose udid was reassigned (a misuse the types forbid) no longer has its note.
    (root as { udid: string }).udid = rootLineage('part-2').udid;
    expect(lineageNote(root, a)).toBe(0);
  });
});

describe('the digest a lineage keeps (the recorder reads its UDID from it unchecked)', () => {
  it('starts with the UDID, and trustedUdidWords reads the words parseUdidWords reads from the UDID', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (path) => {
        const digest = digestOf(path);
        expect(digest.slice(0, 32)).toBe(udidOf(path));
        const a = new Int32Array(5);
        const b = new Int32Array(5);
        trustedUdidWords(digest, a, 1);
        expect(parseUdidWords(udidOf(path), b, 1)).toBe(true);
        expect([...a]).toEqual([...b]);
      }),
      { numRuns: 500 },
    );
  });

  it('is given only for a lineage made here whose udid was not reassigned', () => {
    const root = rootLineage('part-3');
    expect(madeUdid(root)).toBe(root.udid);
    expect(madeUdid({ ...root })).toBeNull();
    expect(madeUdid(root.udid)).toBeNull();
    (root as { udid: string }).udid = 'not a udid';
    expect(madeUdid(root)).toBeNull();
    // The adapter's step 1 then checks it like any other parent.
    expect(() => assignChildLineage('s', [root], ['x'])).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_UDID }));
  });

  it('assignChildLineage gives each child the lineage childLineage gives it, for any parents and slots', () => {
    const udid = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex'));
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.array(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }).map(rootLineage), udid.map((u) => ({ path: 'p', udid: u, sourceKey: 's' }))), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        (stage, parents, n, keyed) => {
          const out = assignChildLineage(stage, parents, Array.from({ length: n }, (_, i) => i), keyed ? { key: (c) => `k${c}` } : {});
          expect(out.kind).toBe('children');
          if (out.kind !== 'children') return;
          const udids = parents.map((p) => p.udid);
          const source = out.children[0]!.lineage.sourceKey;
          expect(out.children.map((c) => c.lineage)).toEqual(out.children.map((_, i) => childLineage(stage, udids, keyed ? { key: `k${i}` } : i, source)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('bad input', () => {
  const p = rootLineage('x').udid;
  const cases: [string, () => unknown, string][] = [
    ['empty source key', () => rootLineage(''), ErrorCodes.INVALID_ARGUMENT],
    ['empty stage id', () => childLineage('', [p], 0), ErrorCodes.INVALID_ARGUMENT],
    ['no parents', () => childLineage('s', [], 0), ErrorCodes.INVALID_ARGUMENT],
    ['uppercase UDID', () => childLineage('s', [p.toUpperCase()], 0), ErrorCodes.INVALID_UDID],
    ['short UDID', () => childLineage('s', [p.slice(1)], 0), ErrorCodes.INVALID_UDID],
    ['non-hex UDID', () => childLineage('s', ['z'.repeat(32)], 0), ErrorCodes.INVALID_UDID],
    ['negative slot', () => childLineage('s', [p], -1), ErrorCodes.INVALID_ARGUMENT],
    ['fractional slot', () => childLineage('s', [p], 1.5), ErrorCodes.INVALID_ARGUMENT],
    ['empty slot key', () => childLineage('s', [p], { key: '' }), ErrorCodes.INVALID_ARGUMENT],
  ];
  it.each(cases)('%s gives a LineageError with a code', (_name, fn, code) => {
    expect(fn).toThrow(expect.objectContaining({ name: 'LineageError', code }));
  });
});

describe('parseUdidWords (the recorder reads every reference with it)', () => {
  const words = (bytes: Uint8Array) => {
    const b = Buffer.from(bytes);
    return [0, 4, 8, 12].map((o) => b.readInt32LE(o));
  };

  it('gives the little-endian words of any UDID', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const out = new Int32Array(6);
        expect(parseUdidWords(Buffer.from(bytes).toString('hex'), out, 2)).toBe(true);
        expect([...out.subarray(2)]).toEqual(words(bytes));
      }),
    );
  });

  it('isUdid and parseUdidWords refuse exactly what the pattern refuses: uppercase, non-hex, wide chars, wrong length', () => {
    const near = fc
      .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(31), fc.constantFrom('A', 'F', 'g', 'G', ' ', '\u0130', '\u00e0', '\u3030', '/', ':', '`', 'x'))
      .map(([bytes, at, c]) => {
        const hex = Buffer.from(bytes).toString('hex');
        return hex.slice(0, at) + c + hex.slice(at + 1);
      });
    const valid = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString('hex'));
    fc.assert(
      fc.property(fc.oneof(near, valid, fc.string({ minLength: 30, maxLength: 34 }), fc.constant(undefined), fc.integer()), (value) => {
        const udid = typeof value === 'string' && /^[0-9a-f]{32}$/.test(value);
        expect(isUdid(value)).toBe(udid);
        expect(parseUdidWords(value, new Int32Array(4), 0)).toBe(udid);
      }),
      { numRuns: 2000 },
    );
  });
});
