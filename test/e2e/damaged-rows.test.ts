// One flipped byte in a row that decodes to something plausible: a source key
// that reads as another key, a run number that reads as another run. LMDB
// checks no value, so without a check of ours every read command printed the
// wrong key or an empty start time with exit 0, and a plan called the source
// new. Each read command must refuse with LINEAGE_CORRUPT naming the file.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { buildSmall, ensureBuilt, lineage } from '../helpers/cli.js';
import { runExample } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

const u16 = (n: number) => Buffer.from([n & 0xff, n >> 8]);
const u32 = (n: number) => Buffer.from(new Uint32Array([n]).buffer);

/** The offset of the one leaf node in `file` whose 4-byte key is `key` and whose value starts with `value`; the key's offset. */
function nodeKeyAt(file: Buffer, key: number, value: Buffer): number {
  const pattern = Buffer.concat([u16(4), u32(key), value]);
  const at = file.indexOf(pattern);
  expect(at, 'the row is in the file').toBeGreaterThan(0);
  expect(file.indexOf(pattern, at + 1), 'the row is in the file once').toBe(-1);
  return at + 2;
}

function flipIn(data: string, flip: (file: Buffer) => void): void {
  const file = readFileSync(data);
  flip(file);
  writeFileSync(data, file);
}

function damaged(flip: (file: Buffer) => void): { ckpt: string; data: string } {
  const ckpt = buildSmall(join(tempDir('lineage-rows-'), 'ckpt'));
  const data = join(ckpt, 'writers', 'main', 'data.mdb');
  flipIn(data, flip);
  return { ckpt, data };
}

const READS = (ckpt: string) => [
  ['inspect', ckpt, '--format', 'ndjson'],
  ['inspect', ckpt, '--format', 'json'],
  ['inspect', ckpt],
  ['stats', ckpt, '--json'],
  ['plan', ckpt, '--json'],
];

function expectRefused(ckpt: string, data: string): void {
  for (const args of READS(ckpt)) {
    const r = lineage(args);
    expect({ args, code: r.code, stderr: r.stderr }).toMatchObject({ code: 1, stderr: expect.stringMatching(/^lineage: LINEAGE_CORRUPT: /) });
    expect(r.stderr).toContain(data);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }
  const v = lineage(['verify', ckpt]);
  expect(v.code).toBe(1);
  expect(v.stdout + v.stderr).toContain(data);
}

describe('a row with one flipped byte that still decodes', () => {
  beforeAll(() => ensureBuilt());

  it('a source key (part-0000.jsonl read as part-0000/jsonl) is LINEAGE_CORRUPT naming the file, for every read command', () => {
    const { ckpt, data } = damaged((file) => {
      // Root ids start at 1: the first source recorded is part-0000.jsonl.
      const at = nodeKeyAt(file, 1, Buffer.from('part-0000.jsonl'));
      file.writeUInt8(file.readUInt8(at + 4 + 'part-0000'.length) ^ 0x01, at + 4 + 'part-0000'.length);
    });
    expectRefused(ckpt, data);
  });

  it('the key of a run record (run 1 read as another number) is LINEAGE_CORRUPT naming the file, for every read command that shows completion', () => {
    const { ckpt, data } = damaged((file) => {
      const at = nodeKeyAt(file, 1, Buffer.from('{"startedAt"'));
      file.writeUInt8(file.readUInt8(at + 2) ^ 0xe7, at + 2);
    });
    for (const args of [['inspect', ckpt, '--format', 'ndjson'], ['inspect', ckpt, '--format', 'json']]) {
      const r = lineage(args);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(/^lineage: LINEAGE_CORRUPT: /);
      expect(r.stderr).toContain(data);
      expect(r.stderr).toContain('run 1');
    }
  });

  it('the key of a fingerprint row (a source renamed under its fingerprint) is found by verify: LINEAGE_CORRUPT naming the file', () => {
    const dir = tempDir('lineage-rows-');
    makeExampleData(join(dir, 'data'), 2, 20);
    expect(runExample(dir).status).toBe(0);
    const data = join(dir, 'ckpt', 'writers', 'main', 'data.mdb');
    expect(lineage(['verify', join(dir, 'ckpt')]).code).toBe(0);
    flipIn(data, (file) => {
      // The fingerprints sub-DB is keyed by the source key itself (15 bytes), the sources sub-DB by a root id.
      const at = file.indexOf(Buffer.concat([u16(15), Buffer.from('part-0001.jsonl')]));
      expect(at).toBeGreaterThan(0);
      file.writeUInt8(file.readUInt8(at + 2 + 'part-0001'.length) ^ 0x01, at + 2 + 'part-0001'.length);
    });
    const v = lineage(['verify', join(dir, 'ckpt')]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^lineage: LINEAGE_CORRUPT: /);
    expect(v.stderr).toContain(data);
    expect(v.stderr).toContain('fingerprint');
  });
});
