// Every field of lineage.json is checked for its type (issue 19, case 11): a
// manifest with a wrong-typed field is LINEAGE_CORRUPT naming the field and
// the file, for the library and every CLI command, and nothing is changed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, LineageStore } from '../../src/index.js';
import { buildSmall, ensureBuilt, lineage, snapshotTree } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

beforeAll(ensureBuilt);

const BAD: readonly [string, string, unknown][] = [
  ['a string fingerprint', 'fingerprint', 'read,split'],
  ['a fingerprint entry without an id', 'fingerprint', [{ version: '1' }]],
  ['a fingerprint entry with a numeric version', 'fingerprint', [{ id: 'read', version: 2 }]],
  ['an unknown mode', 'mode', 'xyz'],
  ['a numeric createdAt', 'createdAt', 12],
  ['an updatedAt that is no time', 'updatedAt', 'yesterday'],
  ['acceptedChanges an object', 'acceptedChanges', {}],
  ['an accepted change without "to"', 'acceptedChanges', [{ from: [], at: '2026-01-01T00:00:00.000Z' }]],
  ['a fractional formatVersion', 'formatVersion', 2.5],
];

describe('a manifest field of the wrong type', () => {
  it.each(BAD)('%s: LINEAGE_CORRUPT naming the field, from the library and the CLI, nothing changed', async (_name, field, value) => {
    const ckpt = buildSmall(join(tempDir(), 'ckpt'));
    const file = join(ckpt, 'lineage.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    manifest[field] = value;
    writeFileSync(file, JSON.stringify(manifest, null, 2));
    const before = snapshotTree(ckpt);
    for (const readOnly of [true, false]) {
      const err = await LineageStore.open(ckpt, { readOnly }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCodes.CORRUPT });
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).toContain(`"${field}"`);
    }
    for (const args of [['inspect', ckpt], ['stats', ckpt], ['plan', ckpt], ['verify', ckpt]]) {
      const r = lineage(args);
      expect(r.stderr, args[0]).toMatch(new RegExp(`^lineage: LINEAGE_CORRUPT: [^\\n]*"${field}"[^\\n]*\\n$`));
      expect(r.code, args[0]).toBe(1);
    }
    expect(snapshotTree(ckpt)).toEqual(before);
  });

  it('a manifest written before optional fields existed (no acceptedChanges, no mode) still opens', async () => {
    const ckpt = buildSmall(join(tempDir(), 'ckpt'));
    const file = join(ckpt, 'lineage.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    delete manifest.acceptedChanges;
    delete manifest.mode;
    writeFileSync(file, JSON.stringify(manifest));
    const store = await LineageStore.open(ckpt, { readOnly: true });
    expect(store.manifest).toMatchObject({ mode: 'dag', acceptedChanges: [] });
    await store.close();
  });
});
