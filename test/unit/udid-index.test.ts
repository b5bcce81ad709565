// The `udid` index is merged in bulk (src/store/udid-tail.ts): tasks a writer
// has not merged yet are found through `meta`, a writer killed before its
// merge leaves them listed, and the next writer indexes them.
import { execFile } from 'node:child_process';
import { readRaw } from '../helpers/raw-lmdb.js';
import { editRecord, putRecords } from '../../src/store/meta-blocks.js';
import { lookup } from '../../src/store/udid-chunks.js';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LineageStore, childLineage, rootLineage } from '../../src/index.js';
import { MIN_TAIL, inBlocks, readUnindexed } from '../../src/store/udid-tail.js';
import { WriteBatch } from '../../src/store/write-batch.js';
import { MERGE_ROWS_PER_TXN, commitBatch } from '../../src/store/batch-commit.js';
import { ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const run = promisify(execFile);
const child = new URL('../children/record-then-die.mjs', import.meta.url).pathname;

/** The tasks record-then-die.mjs records for `count` sources, and which of them end complete. */
function expected(count: number) {
  const all: string[] = [];
  const complete = new Set<string>();
  for (let s = 0; s < count; s++) {
    const root = rootLineage(`part-${s}`);
    const [c0, c1] = [0, 1].map((j) => childLineage('split', [root.udid], j));
    const out = childLineage('write', [c0!.udid], 0);
    all.push(root.udid, c0!.udid, c1!.udid, out.udid);
    complete.add(c0!.udid).add(out.udid);
  }
  return { all, complete };
}

/** Entries of one sub-DB, read with the stock lmdb package: UDIDs in the chunks of `udid`, duplicates of the edge sub-DBs. */
function entries(dir: string, db: string): number {
  const raw = readRaw(join(dir, 'writers', 'main'), db, db === 'parents' || db === 'children');
  // Index chunks: 20-byte entries, then a 4-byte checksum.
  if (db === 'udid') return raw.entries.reduce((n, [, value]) => n + (value.length / 2 - 4) / 20, 0);
  // Task records in the meta blocks: 30 bytes each, absent when the root field is 0.
  if (db === 'meta') {
    return raw.entries.reduce((n, [, value]) => {
      const block = Buffer.from(value, 'hex');
      for (let at = 0; at + 30 <= block.length - 4; at += 30) if (block.readUInt32LE(at + 18) !== 0) n++;
      return n;
    }, 0);
  }
  return raw.entries.length;
}

/** Every one of the `tasks` tasks is in the index, and no block is listed as unindexed. */
/** Sources p0..p(n-1), each split into 3 (4 tasks a source); `turns`: give the event loop a turn every 1,024, so batches commit as they would in a pipeline. */
async function recordSplits(store: LineageStore, sources: number, turns: boolean): Promise<void> {
  for (let s = 0; s < sources; s++) {
    const root = rootLineage(`p${s}`);
    store.recordEmission({ stage: 'split', parents: [root], children: [0, 1, 2].map((j) => childLineage('split', [root.udid], j)) });
    if (turns && (s & 1023) === 0) await new Promise((r) => setImmediate(r));
  }
}

async function expectAllIndexed(dir: string, tasks: number) {
  expect(entries(dir, 'udid')).toBe(tasks);
  expect(entries(dir, 'meta')).toBe(tasks);
  expect(await listed(dir)).toEqual([]);
}

async function listed(dir: string) {
  const reader = await LineageStore.open(dir, { readOnly: true });
  try {
    return readUnindexed(reader.shards[0]!.info);
  } finally {
    await reader.close();
  }
}

describe('the udid index, merged in bulk', () => {
  it('a clean close leaves every task indexed and no block listed', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    const { all } = expected(50);
    for (let s = 0; s < 50; s++) {
      const root = rootLineage(`part-${s}`);
      const [c0, c1] = [0, 1].map((j) => childLineage('split', [root.udid], j));
      store.recordEmission({ stage: 'split', parents: [root], children: [c0!, c1!] });
      store.recordEmission({ stage: 'write', parents: [c0!], children: [childLineage('write', [c0!.udid], 0)], terminal: true });
    }
    await store.flush();
    // Committed, not yet merged: found through meta by the writer's own reads.
    expect(entries(dir, 'udid')).toBe(0);
    expect(all.every((u) => store.has(u))).toBe(true);
    await store.close();
    await expectAllIndexed(dir, all.length);
  });

  it('a writer killed before its merge: readers find its tasks through meta, the next writer indexes them', async () => {
    ensureBuilt();
    const dir = tempDir();
    const count = 300;
    const { all, complete } = expected(count);
    const killed = await run('node', [child, dir, String(count)]).catch((err: { stdout: string; signal: string }) => err);
    expect(killed).toMatchObject({ stdout: 'flushed\n', signal: 'SIGKILL' });
    expect(entries(dir, 'udid')).toBe(0);
    expect(entries(dir, 'meta')).toBe(all.length);
    const blocks = await listed(dir);
    expect(blocks.length).toBeGreaterThan(0);

    const reader = await LineageStore.open(dir, { readOnly: true });
    for (const udid of all) expect(reader.isCompleted(udid)).toBe(complete.has(udid));
    const root = rootLineage('part-7');
    expect(reader.get(root.udid)).toMatchObject({ sourceKey: 'part-7', taskType: 'source', children: expect.arrayContaining([childLineage('split', [root.udid], 1).udid]) });
    expect(reader.has(childLineage('split', [root.udid], 2).udid)).toBe(false);
    await reader.close();
    // The CLI: a UDID prefix resolves through the unindexed tasks, verify finds nothing wrong.
    const prefix = all[5]!.slice(0, 10);
    const shown = lineage(['inspect', dir, '--udid', prefix, '--format', 'ndjson']);
    expect(shown.code).toBe(0);
    expect(shown.stdout.split('\n')[0]).toContain(all[5]);
    expect(lineage(['verify', dir])).toMatchObject({ code: 0 });

    // The next writer indexes the dead writer's blocks at open, before it records anything.
    const next = await LineageStore.open(dir);
    expect(entries(dir, 'udid')).toBe(all.length);
    expect(next.isCompleted(all[1]!)).toBe(true);
    await next.close();
    expect(await listed(dir)).toEqual([]);
    expect(entries(dir, 'meta')).toBe(all.length);
    expect(lineage(['verify', dir])).toMatchObject({ code: 0 });
  });

  it('re-recording after the crash finds every task again: no task is created twice', async () => {
    ensureBuilt();
    const dir = tempDir();
    const count = 120;
    await run('node', [child, dir, String(count)]).catch(() => {});
    const rerun = await LineageStore.open(dir);
    for (let s = 0; s < count; s++) {
      const root = rootLineage(`part-${s}`);
      const [c0, c1] = [0, 1].map((j) => childLineage('split', [root.udid], j));
      rerun.recordEmission({ stage: 'split', parents: [root], children: [c0!, c1!] });
    }
    await rerun.close();
    expect(entries(dir, 'meta')).toBe(expected(count).all.length);
    expect(entries(dir, 'udid')).toBe(expected(count).all.length);
  });

  it(`merges during a long run once the held-back tasks reach ${MIN_TAIL}`, async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    const sources = Math.ceil((MIN_TAIL * 1.25) / 4);
    await recordSplits(store, sources, true);
    await store.flush();
    const merged = entries(dir, 'udid');
    expect(merged).toBeGreaterThanOrEqual(MIN_TAIL);
    expect(merged).toBeLessThan(sources * 4);
    // Blocks wholly merged are unlisted; the one ids come from and the one claimed ahead stay listed,
    // and every task the index lacks lies in one of them.
    const shard = store.shards[0]!;
    const blocks = readUnindexed(shard.info);
    expect(blocks.length).toBeGreaterThanOrEqual(1);
    expect(blocks.length).toBeLessThanOrEqual(2);
    let missing = 0;
    for (const { key, value } of shard.metaRows()) {
      if (lookup(shard.udid as never, value.subarray(0, 16)) !== undefined) continue;
      missing++;
      expect(inBlocks(blocks, key)).toBe(true);
    }
    expect(missing).toBe(sources * 4 - merged);
    expect(store.has(rootLineage(`p${sources - 1}`).udid)).toBe(true);
    await store.close();
    await expectAllIndexed(dir, sources * 4);
  });

  it('while a merge goes on in parts, the write thread commits and acknowledges the batches that come meanwhile; flush waits for the merge', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    // The acknowledgements the session's write thread receives, in order.
    const thread = (store as unknown as { session: { scheduler: { thread: { receive(ack: object): void } } } }).session.scheduler.thread;
    const acks: { seq?: number; merging?: boolean; merged?: number; error?: string }[] = [];
    const receive = thread.receive.bind(thread);
    thread.receive = (ack: object) => {
      acks.push(ack);
      receive(ack);
    };
    const sources = Math.ceil((MIN_TAIL * 2) / 4);
    for (let s = 0; s < sources; s++) {
      const root = rootLineage(`p${s}`);
      store.recordEmission({ stage: 'split', parents: [root], children: [0, 1, 2].map((j) => childLineage('split', [root.udid], j)) });
      if ((s & 1023) === 0) {
        if (store.needsDrain) await store.drain();
        else await new Promise((r) => setImmediate(r));
      }
    }
    await store.flush();
    expect(acks.every((a) => a.error === undefined)).toBe(true);
    // For a merge in parts (the first, at MIN_TAIL, or a later one): later batches were committed
    // before it ended, so recording did not wait for it.
    const overtaken = acks.flatMap((a, start) => {
      if (a.merging !== true) return [];
      const end = acks.findIndex((b) => b.merged === a.seq);
      expect(end).toBeGreaterThan(start);
      return acks.slice(start + 1, end).filter((b) => b.seq !== undefined && b.seq > a.seq!);
    });
    expect(overtaken.length).toBeGreaterThan(0);
    // Every merge begun before flush returned had ended.
    const begun = acks.filter((a) => a.merging === true).map((a) => a.seq);
    expect(acks.filter((a) => a.merged !== undefined).map((a) => a.merged)).toEqual(begun);
    expect(entries(dir, 'udid')).toBeGreaterThanOrEqual(MIN_TAIL);
    await store.close();
    await expectAllIndexed(dir, sources * 4);
    expect(lineage(['verify', dir])).toMatchObject({ code: 0 });
  });

  it('a merge too big for one transaction goes in parts; one that stops after its first part leaves its blocks listed and every task found', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    const sources = Math.ceil((MERGE_ROWS_PER_TXN * 1.5) / 4);
    await recordSplits(store, sources, false);
    await store.flush();
    expect(entries(dir, 'udid')).toBe(0);
    const shard = store.shards[0]!;
    const blocks = readUnindexed(shard.info).map((b) => b.start);
    expect(blocks.length).toBeGreaterThan(0);

    // The merge the session would send, by hand, plus a task whose meta row repeats the greatest
    // UDID: appending it again fails in the second part, as a crash there would stop it.
    const rows = [...shard.metaRows()].map(({ key, value }) => ({ key, udid: Buffer.from(value.subarray(0, 16)) }));
    const greatest = rows.reduce((a, b) => (Buffer.compare(a.udid, b.udid) >= 0 ? a : b));
    // An id far past the shard's, within reach of verify's per-id arrays.
    const twin = 0x00f00000;
    const id = Buffer.alloc(4);
    id.writeUInt32LE(twin);
    const record = Buffer.from(shard.recordOf(greatest.key)!);
    shard.env.transactionSync(() => putRecords(shard.meta as never, id, record, 1));
    const merge = new WriteBatch();
    const ids = [...rows.map((r) => r.key), twin];
    const ranges: number[] = [];
    for (const id of ids) {
      if (ranges.length > 0 && ranges[ranges.length - 1] === id) ranges[ranges.length - 1] = id + 1;
      else ranges.push(id, id + 1);
    }
    merge.merge = ranges;
    merge.indexed = blocks;
    expect(() => commitBatch(shard.env, shard, merge.toMessage(1))).toThrow(/the udid index maps [0-9a-f]{32} to id \d+, not \d+/);
    shard.env.transactionSync(() => editRecord(shard.meta as never, twin, null));
    // The first part is in the index; the blocks stay listed, so the rest is found through meta.
    expect(entries(dir, 'udid')).toBe(MERGE_ROWS_PER_TXN);
    expect(readUnindexed(shard.info).map((b) => b.start)).toEqual(blocks);
    const reader = await LineageStore.open(dir, { readOnly: true });
    expect(rows.every((r) => reader.has(r.udid.toString('hex')))).toBe(true);
    await reader.close();
    expect(lineage(['verify', dir])).toMatchObject({ code: 0 });

    // The writer's own merge at close puts every row again (over the part already there) and unlists the blocks.
    await store.close();
    await expectAllIndexed(dir, rows.length);
  });

  it('no other process records into a fresh shard while its writer holds it (so the writer may answer unknown tasks without a lookup); after it, the next writer sees all', async () => {
    ensureBuilt();
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    const mine = rootLineage('mine');
    store.recordEmission({ stage: 'split', parents: [mine], children: [childLineage('split', [mine.udid], 0)] });
    await store.flush();
    const { all, complete } = expected(20);
    // Nothing else is in the shard yet: unknown tasks are answered without a lookup.
    expect(all.some((u) => store.isCompleted(u))).toBe(false);
    const refused = await run('node', [child, dir, '20']).catch((err: { stdout: string; stderr: string }) => err);
    expect(refused).toMatchObject({ stdout: '' });
    expect((refused as { stderr: string }).stderr).toContain('LINEAGE_LOCKED');
    for (const udid of all) expect(store.isCompleted(udid)).toBe(false);
    await store.close();
    const killed = await run('node', [child, dir, '20']).catch((err: { stdout: string }) => err);
    expect(killed).toMatchObject({ stdout: 'flushed\n' });
    const next = await LineageStore.open(dir);
    for (const udid of all) expect(next.isCompleted(udid)).toBe(complete.has(udid));
    expect(next.isCompleted(mine.udid)).toBe(false);
    await next.close();
  });

  it('a merge naming a task with no meta row commits nothing of its batch and unlists nothing', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    const root = rootLineage('p');
    store.recordEmission({ stage: 'split', parents: [root], children: [childLineage('split', [root.udid], 0)] });
    await store.flush();
    const shard = store.shards[0]!;
    const blocks = readUnindexed(shard.info).map((b) => b.start);
    const batch = new WriteBatch();
    batch.merge = [1, 3, 0xfff00000, 0xfff00001];
    batch.indexed = blocks;
    batch.edge(2, 1); // a new row: there if the batch had committed
    expect(() => commitBatch(shard.env, shard, batch.toMessage(1))).toThrow(/the udid merge found 2 meta records of the 3 tasks/);
    expect(entries(dir, 'udid')).toBe(0);
    expect(entries(dir, 'parents')).toBe(1);
    expect(readUnindexed(shard.info).map((b) => b.start)).toEqual(blocks);
    await store.close();
    expect(entries(dir, 'udid')).toBe(2);
  });
});
