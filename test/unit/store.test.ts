import { crc32 } from 'node:zlib';
import { existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LineageStore, childLineage, rootLineage } from '../../src/index.js';
import { Shard } from '../../src/store/shard.js';
import { tempDir } from '../helpers/temp-dir.js';
import { rawEdges, rawEntries, readRaw } from '../helpers/raw-lmdb.js';

const root = rootLineage('part-0000.jsonl');
const a = childLineage('split', [root.udid], 0);
const b = childLineage('split', [root.udid], 1);
const m = childLineage('merge', [a.udid, b.udid], 0);
const out = childLineage('write', [m.udid], 0);

async function recorded(dir = tempDir()): Promise<LineageStore> {
  const store = await LineageStore.open(dir);
  store.recordEmission({ stage: 'split', parents: [root], children: [a, b] });
  store.recordEmission({ stage: 'merge', parents: [a, b], children: [m] });
  await store.flush();
  return store;
}

describe('LineageStore: recording', () => {
  it('stores edges, types, outcome, stage and source key, readable by UDID', async () => {
    const store = await recorded();
    expect(store.get(root.udid)).toMatchObject({ taskType: 'source', stage: null, sourceKey: 'part-0000.jsonl' });
    expect(store.get(root.udid)?.children.sort()).toEqual([a.udid, b.udid].sort());
    expect(store.get(a.udid)).toMatchObject({ taskType: 'middle', parents: [root.udid], children: [m.udid], outcome: { kind: 'emitted', stage: 'merge' } });
    expect(store.get(m.udid)).toMatchObject({ taskType: 'leaf', stage: 'merge', sourceKey: 'part-0000.jsonl', completed: null, outcome: null });
    expect(store.get(childLineage('x', [root.udid], 9).udid)).toBeNull();
    await store.close();
  });

  it('promotes task_type monotonically: source_leaf -> source/leaf -> middle', async () => {
    const store = await LineageStore.open(tempDir());
    store.recordFailure({ stage: 'split', task: root, error: 'disk full' });
    await store.flush();
    expect(store.get(root.udid)?.taskType).toBe('source_leaf');
    store.recordEmission({ stage: 'split', parents: [root], children: [a] });
    await store.flush();
    expect(store.get(root.udid)?.taskType).toBe('source');
    expect(store.get(a.udid)?.taskType).toBe('leaf');
    store.recordEmission({ stage: 'merge', parents: [a], children: [m] });
    await store.flush();
    expect(store.get(a.udid)?.taskType).toBe('middle');
    await store.close();
  });

  it('marks completion upward from terminal leaves and filtered tasks', async () => {
    const store = await recorded();
    expect(store.isCompleted(root.udid)).toBe(false);
    expect(store.isSourceCompleted(root)).toBe(false);
    store.recordEmission({ stage: 'write', parents: [m], children: [out], terminal: true });
    expect(store.isCompleted(root.udid)).toBe(true); // before the commit: the writer sees its own state
    expect(store.isSourceCompleted('part-0000.jsonl')).toBe(true);
    expect(store.isSourceCompleted(root)).toBe(true);
    await store.flush();
    for (const t of [out, m, a, b, root]) expect(store.get(t.udid)?.completed).toMatchObject({ run: 1, writerId: 'main' });
    expect([...store.ancestors(out.udid)].sort()).toEqual([m.udid, a.udid, b.udid, root.udid].sort());
    expect([...store.descendants(root.udid)].sort()).toEqual([a.udid, b.udid, m.udid, out.udid].sort());
    await store.close();
  });

  it('recordEmission says whether a child is complete, the same as isCompleted would', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    expect(store.recordEmission({ stage: 'split', parents: [root], children: [a, b] })).toBe(false);
    expect(store.recordEmission({ stage: 'merge', parents: [a, b], children: [m] })).toBe(false);
    expect(store.recordEmission({ stage: 'split', parents: [root], children: [] })).toBe(false); // filtered: no child
    expect(store.recordEmission({ stage: 'write', parents: [m], children: [out], terminal: true })).toBe(true);
    // Recorded again (a rerun that redid the merge): its child is complete already.
    expect(store.recordEmission({ stage: 'merge', parents: [a, b], children: [m] })).toBe(true);
    await store.close();

    // In a later session the complete child is loaded from disk.
    const again = await LineageStore.open(dir);
    expect(again.recordEmission({ stage: 'split', parents: [root], children: [a, b] })).toBe(true);
    const fresh = childLineage('split', [root.udid], 7);
    expect(again.recordEmission({ stage: 'split', parents: [root], children: [fresh] })).toBe(false);
    expect(again.isCompleted(fresh.udid)).toBe(false);
    await again.close();

    // With another writer's shard open, a child may be complete there: the answer is "ask".
    await (await LineageStore.open(dir, { writerId: 'other' })).close();
    const two = await LineageStore.open(dir);
    expect(two.shards.length).toBe(2);
    expect(two.recordEmission({ stage: 'split', parents: [root], children: [childLineage('split', [root.udid], 8)] })).toBe(true);
    await two.close();
  });

  it('records the same through lineage objects (which carry the id noted by the session) as through plain references', async () => {
    const dump = (s: LineageStore) =>
      [...s.tasks()].map((t) => ({ ...t, parents: [...t.parents].sort(), children: [...t.children].sort(), completed: t.completed && { run: t.completed.run } })).sort((x, y) => (x.udid < y.udid ? -1 : 1));
    const emissions = [
      { stage: 'split', parents: [root], children: [a, b] },
      { stage: 'merge', parents: [a, b], children: [m] },
      { stage: 'merge', parents: [b, a], children: [m] }, // again: the notes on a, b and m
      { stage: 'write', parents: [m], children: [out], terminal: true },
    ];
    const byObject = await LineageStore.open(tempDir());
    const byPlain = await LineageStore.open(tempDir());
    // A second store in the same process: the notes of the first one's session must mean nothing to it.
    for (const e of emissions) {
      byObject.recordEmission(e);
      // Plain objects carry no note: every reference is parsed and looked up.
      byPlain.recordEmission({ ...e, parents: e.parents.map((p) => ({ ...p })), children: e.children.map((c) => ({ ...c })) });
    }
    const other = await LineageStore.open(tempDir());
    const c = childLineage('check', [m.udid], 0);
    other.recordEmission({ stage: 'check', parents: [m], children: [c] });
    await other.flush();
    expect(other.get(m.udid)).toMatchObject({ udid: m.udid, children: [c.udid] });
    expect(other.get(c.udid)).toMatchObject({ parents: [m.udid] });
    expect(other.has(a.udid)).toBe(false);
    await other.close();
    await byObject.flush();
    await byPlain.flush();
    expect(dump(byObject)).toEqual(dump(byPlain));
    expect(dump(byObject).length).toBe(5);
    await byPlain.close();

    // The next session of the same checkpoint finds the tasks again by UDID, not by the old session's notes.
    const dir = byObject.dir;
    await byObject.close();
    const again = await LineageStore.open(dir);
    const d = childLineage('check', [out.udid], 0);
    again.recordEmission({ stage: 'check', parents: [out], children: [d] });
    await again.flush();
    expect(again.get(out.udid)).toMatchObject({ children: [d.udid], parents: [m.udid] });
    expect(again.get(d.udid)).toMatchObject({ parents: [out.udid] });
    await again.close();
  });

  it('a writer continuing a checkpoint finds what it has just recorded, right after flush', async () => {
    // Its new tasks are in an id block it claimed moments before: not yet in the index, and a
    // cached list of such blocks read before the claim must not hide them for LIST_TTL_MS.
    const dir = tempDir();
    const first = await LineageStore.open(dir);
    first.recordEmission({ stage: 'split', parents: [root], children: [a] });
    await first.close();
    const next = await LineageStore.open(dir);
    const d = childLineage('check', [a.udid], 0);
    next.recordEmission({ stage: 'check', parents: [a], children: [d] });
    await next.flush();
    expect(next.has(d.udid)).toBe(true);
    expect(next.get(d.udid)).toMatchObject({ parents: [a.udid], stage: 'check' });
    await next.close();
  });

  it('keeps a failure until the task succeeds, and never overwrites a completed task', async () => {
    const store = await LineageStore.open(tempDir());
    expect(store.recordFailure({ stage: 'split', task: root, error: new Error('timeout') })).toBe(true);
    await store.flush();
    expect(store.get(root.udid)?.outcome).toEqual({ kind: 'failed', stage: 'split', error: 'timeout' });
    store.recordEmission({ stage: 'split', parents: [root], children: [] });
    expect(store.recordFailure({ stage: 'split', task: root, error: 'late' })).toBe(false);
    await store.flush();
    expect(store.get(root.udid)).toMatchObject({ outcome: { kind: 'filtered', stage: 'split' }, completed: { run: 1 } });
    await store.close();
  });

  it('continues a checkpoint across runs, numbering runs', async () => {
    const dir = tempDir();
    await (await recorded(dir)).close();
    const again = await LineageStore.open(dir);
    expect(again.run).toBe(2);
    again.recordEmission({ stage: 'write', parents: [m], children: [out], terminal: true });
    await again.close();
    const reader = await LineageStore.open(dir, { readOnly: true });
    expect(reader.get(root.udid)?.completed).toMatchObject({ run: 2 });
    expect([...reader.sources()]).toEqual([{ sourceKey: 'part-0000.jsonl', udid: root.udid }]);
    expect([...reader.tasks()].map((t) => t.udid).sort()).toEqual([root, a, b, m, out].map((t) => t.udid).sort());
    await reader.close();
  });

  it("keeps a fan-in child's parents across sessions: a later one adds a parent once, and completing the child completes them all", async () => {
    const dir = tempDir();
    const roots = Array.from({ length: 4 }, (_, i) => rootLineage(`part-${i}`));
    const joined = childLineage('join', roots.map((r) => r.udid), 0);
    const first = await LineageStore.open(dir);
    first.recordEmission({ stage: 'join', parents: roots.slice(0, 3), children: [joined] });
    await first.close();
    const second = await LineageStore.open(dir);
    second.recordEmission({ stage: 'join', parents: roots, children: [joined] });
    second.recordEmission({ stage: 'join', parents: roots.slice(1), children: [joined] });
    for (const r of roots) expect(second.isCompleted(r.udid)).toBe(false);
    const written = childLineage('write', [joined.udid], 0);
    second.recordEmission({ stage: 'write', parents: [joined], children: [written], terminal: true });
    for (const r of roots) expect(second.isCompleted(r.udid)).toBe(true);
    await second.close();
    const reader = await LineageStore.open(dir, { readOnly: true });
    expect(reader.get(joined.udid)!.parents.sort()).toEqual(roots.map((r) => r.udid).sort());
    for (const r of roots) expect(reader.get(r.udid)).toMatchObject({ children: [joined.udid], completed: { run: 2 } });
    await reader.close();
    expect(rawEdges(join(dir, 'writers', 'main'), 'parents')).toBe(5);
  });

  it('a wide fan-in records each edge once, over several calls and repeats', async () => {
    const store = await LineageStore.open(tempDir());
    const roots = Array.from({ length: 40 }, (_, i) => rootLineage(`part-${i}`));
    const wide = childLineage('count', roots.map((r) => r.udid), 0);
    store.recordEmission({ stage: 'count', parents: [...roots.slice(0, 30), roots[3]!, roots[3]!], children: [wide] });
    store.recordEmission({ stage: 'count', parents: roots.slice(20), children: [wide] });
    store.recordEmission({ stage: 'count', parents: roots, children: [wide], terminal: true });
    await store.flush();
    expect(store.get(wide.udid)!.parents.sort()).toEqual(roots.map((r) => r.udid).sort());
    for (const r of roots) expect(store.get(r.udid)).toMatchObject({ children: [wide.udid], completed: { run: 1 } });
    expect(rawEdges(join(store.dir, 'writers', 'main'), 'parents')).toBe(40);
    // Consecutive parent ids share a value: 40 edges over three calls are fewer rows.
    expect(rawEntries(join(store.dir, 'writers', 'main'), 'parents', true)).toBeLessThan(40);
    await store.close();
  });

  it('writes files the stock lmdb package reads, in named sub-DBs only, with the records in blocks', async () => {
    const store = await recorded();
    await store.close();
    const env = join(store.dir, 'writers', 'main');
    const { names } = readRaw(env);
    for (const db of ['parents', 'children', 'meta', 'udid', 'sources', 'errors', 'info']) expect(names).toContain(db);
    // Type, outcome and completion are fields of the task records.
    for (const db of ['task_type', 'completed', 'outcome']) expect(names).not.toContain(db);
    // Every meta value is a block of 30-byte records and a CRC32 of them seeded with the block number (u32 LE key);
    // a consumed task has its outcome in byte 23 (1: emitted).
    const stored = readRaw(env, 'meta').entries.map(([k, v]) => [Buffer.from(k, 'hex').readUInt32LE(0), Buffer.from(v, 'hex')] as const);
    expect(stored.length).toBeGreaterThan(0);
    for (const [key, v] of stored) expect(v.readUInt32LE(v.length - 4)).toBe(crc32(v.subarray(0, v.length - 4), key));
    const blocks = stored.map(([, v]) => v.subarray(0, v.length - 4));
    const records = blocks.flatMap((b) => Array.from({ length: b.length / 30 }, (_, i) => b.subarray(i * 30, i * 30 + 30))).filter((r) => r.readUInt32LE(18) !== 0);
    for (const b of blocks) expect(b.length % 30).toBe(0);
    expect(records.filter((row) => row[23] === 1).length).toBe(3); // the root, a and b
    // Edges are dupSort rows of a big-endian id, or of a run of them (first and last), and a check byte: 5 or 9 bytes.
    const edges = readRaw(env, 'parents', true).entries;
    expect(edges.length).toBeGreaterThan(0);
    for (const [, v] of edges) expect([10, 18]).toContain(v.length);
    const kids = readRaw(env, 'children', true).entries.map(([, v]) => Buffer.from(v, 'hex'));
    // The root's two children were made by one emission: one run value.
    expect(kids.some((v) => v.length === 9 && v.readUInt32BE(4) === v.readUInt32BE(0) + 1)).toBe(true);
  });
});

describe('LineageStore: errors', () => {
  const codeOf = async (p: Promise<unknown>) => p.then(() => 'no error', (e: { code?: string; message: string }) => e);

  it('reads a reassigned udid of a lineage made here, checking it: refused when invalid, recorded under the new UDID when valid', async () => {
    const store = await LineageStore.open(tempDir());
    const root = rootLineage('part-r');
    const child = childLineage('split', [root.udid], 0, 'part-r');
    const made = child.udid;
    (child as { udid: string }).udid = 'Z'.repeat(32);
    expect(() => store.recordEmission({ stage: 'split', parents: [root], children: [child] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_UDID }));
    expect(store.has(root.udid)).toBe(false);
    const other = childLineage('split', [root.udid], 1, 'part-r').udid;
    (child as { udid: string }).udid = other;
    store.recordEmission({ stage: 'split', parents: [root], children: [child] });
    await store.flush();
    expect(store.get(root.udid)?.children).toEqual([other]);
    expect(store.has(made)).toBe(false);
    await store.close();
  });

  it('refuses a missing path, a file, an empty or foreign directory when reading', async () => {
    const dir = tempDir();
    const file = join(dir, 'f.txt');
    writeFileSync(file, 'x');
    mkdirSync(join(dir, 'empty'));
    mkdirSync(join(dir, 'other'));
    writeFileSync(join(dir, 'other', 'notes.txt'), 'x');
    for (const p of [join(dir, 'missing'), file, join(dir, 'empty'), join(dir, 'other')]) {
      const err = await codeOf(LineageStore.open(p, { readOnly: true }));
      expect(err).toMatchObject({ code: ErrorCodes.NOT_A_CHECKPOINT });
      expect((err as Error).message).toContain(p);
    }
    expect(await codeOf(LineageStore.open(join(dir, 'other')))).toMatchObject({ code: ErrorCodes.NOT_A_CHECKPOINT });
    expect(existsSync(join(dir, 'empty', 'lineage.json'))).toBe(false);
  });

  it('refuses a newer format version and a damaged manifest', async () => {
    const dir = tempDir();
    await (await recorded(dir)).close();
    const manifest = JSON.parse(readFileSync(join(dir, 'lineage.json'), 'utf8'));
    writeFileSync(join(dir, 'lineage.json'), JSON.stringify({ ...manifest, formatVersion: 99 }));
    expect(await codeOf(LineageStore.open(dir, { readOnly: true }))).toMatchObject({ code: ErrorCodes.FORMAT_VERSION });
    writeFileSync(join(dir, 'lineage.json'), '{"format": "lineage-dag", "formatVer');
    expect(await codeOf(LineageStore.open(dir, { readOnly: true }))).toMatchObject({ code: ErrorCodes.CORRUPT });
  });

  it('refuses a writer shard of another layout (format 1 had task_type, completed and outcome sub-DBs), changing nothing', async () => {
    const dir = tempDir();
    await (await recorded(dir)).close();
    const shardDir = join(dir, 'writers', 'main');
    const shard = Shard.open(shardDir, 'main', false);
    shard.info.putSync('format', { version: 1 });
    await shard.close();
    const before = readFileSync(join(shardDir, 'data.mdb'));
    for (const readOnly of [true, false]) {
      const err = await codeOf(LineageStore.open(dir, { readOnly }));
      expect(err).toMatchObject({ code: ErrorCodes.FORMAT_VERSION });
      expect((err as Error).message).toContain(shardDir);
      expect((err as Error).message).toContain('format 1');
    }
    expect(readFileSync(join(shardDir, 'data.mdb')).equals(before)).toBe(true);
  });

  it.each([
    ['truncated', (f: string) => truncateSync(f, Math.floor(statSync(f).size / 2))],
    ['garbage', (f: string) => writeFileSync(f, Buffer.alloc(statSync(f).size, 0x5a))],
    ['tiny', (f: string) => writeFileSync(f, 'not lmdb')],
  ])('refuses a %s data.mdb without changing it', async (_name, damage) => {
    const dir = tempDir();
    const store = await recorded(dir);
    for (let i = 0; i < 3000; i++) store.recordEmission({ stage: 'fill', parents: [a], children: [childLineage('fill', [a.udid], i)] });
    await store.close();
    const file = join(dir, 'writers', 'main', 'data.mdb');
    damage(file);
    const before = readFileSync(file);
    for (const readOnly of [true, false]) {
      const err = await codeOf(LineageStore.open(dir, { readOnly }));
      expect(err).toMatchObject({ code: ErrorCodes.CORRUPT });
      expect((err as Error).message).toContain(file);
    }
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses use after close, writes to a read-only store, bad writer ids and bad records', async () => {
    const dir = tempDir();
    const store = await recorded(dir);
    await store.close();
    expect(() => store.get(root.udid)).toThrow(expect.objectContaining({ code: ErrorCodes.CLOSED }));
    expect(() => store.recordEmission({ stage: 's', parents: [root], children: [] })).toThrow(expect.objectContaining({ code: ErrorCodes.CLOSED }));
    const reader = await LineageStore.open(dir, { readOnly: true });
    expect(() => reader.recordEmission({ stage: 's', parents: [root], children: [] })).toThrow(expect.objectContaining({ code: ErrorCodes.READ_ONLY }));
    expect(() => reader.get('nope')).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_UDID }));
    expect(() => [...reader.ancestors(out.udid)]).toThrow(expect.objectContaining({ code: ErrorCodes.UNKNOWN_TASK }));
    await reader.close();
    expect(await codeOf(LineageStore.open(dir, { writerId: '../escape' }))).toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    const writer = await LineageStore.open(dir);
    expect(() => writer.recordEmission({ stage: '', parents: [root], children: [] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => writer.recordEmission({ stage: 's', parents: [], children: [] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => writer.recordEmission({ stage: 's', parents: [root], children: ['XYZ'] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_UDID }));
    expect(() => writer.recordEmission({ stage: 's', parents: [root], children: [root] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    await writer.close();
  });
});

describe('LineageStore: a full map', () => {
  it('stops recording with LINEAGE_MAP_FULL before the map overflows, keeping what was committed', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir, { mapSize: 2 ** 26 });
    store.recordEmission({ stage: 'split', parents: [root], children: [a] });
    await store.flush();
    let error: unknown;
    try {
      for (let i = 0; i < 1_000_000; i++) {
        store.recordEmission({ stage: 'fill', parents: [a], children: [childLineage('fill', [a.udid], i)] });
        if (store.needsDrain) await store.drain();
      }
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: ErrorCodes.MAP_FULL });
    await expect(store.flush()).rejects.toMatchObject({ code: ErrorCodes.MAP_FULL });
    await store.close().catch(() => undefined);
    const reader = await LineageStore.open(dir, { readOnly: true });
    expect(reader.get(a.udid)?.parents).toEqual([root.udid]);
    await reader.close();
  });
});

describe('LineageStore: a run record with a changed byte', () => {
  it('is LINEAGE_CORRUPT naming the data file, not a completion with another start time', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    store.recordEmission({ stage: 'write', parents: [root], children: [a], terminal: true });
    await store.close();
    const shard = Shard.open(join(dir, 'writers', 'main'), 'main', false);
    const row = shard.runs.get(1) as unknown as Record<string, unknown>;
    // One digit of the start time changed, as a flipped byte that still parses would.
    const startedAt = String(row.startedAt);
    const digit = startedAt.search(/\d(?=Z)/);
    const changed = startedAt.slice(0, digit) + String((Number(startedAt[digit]) + 1) % 10) + startedAt.slice(digit + 1);
    shard.runs.putSync(1, { ...row, startedAt: changed } as never);
    await shard.env.flushed;
    await shard.close();
    const reader = await LineageStore.open(dir, { readOnly: true });
    expect(() => reader.get(a.udid)).toThrow(expect.objectContaining({ code: ErrorCodes.CORRUPT, message: expect.stringContaining(join(dir, 'writers', 'main', 'data.mdb')) }));
    await reader.close();
  });
});
