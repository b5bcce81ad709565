// `lineage inspect --format ndjson` of a whole single-shard checkpoint reads
// the shard's pages itself (src/store/lmdb-pages.ts, src/store/shard-ndjson.ts).
// Its lines must be the very bytes the lmdb-js scan gives, on the shapes the
// page reader must get right: multi-level trees, inline duplicate pages,
// duplicate sub-trees (a wide fan-out), overflow pages (long error texts),
// tasks not merged into the udid index yet, and awkward strings.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LineageStore, childLineage, rootLineage } from '../../src/index.js';
import { TaskLineWriter } from '../../src/cli/task-status.js';
import { loadTaskTable } from '../../src/store/task-table.js';
import { PageFile } from '../../src/store/lmdb-pages.js';
import { ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const pageScan = (dir: string) => lineage(['inspect', dir, '--format', 'ndjson']);
const cursorScan = (dir: string) => lineage(['inspect', dir, '--format', 'ndjson'], { env: { LINEAGE_PAGE_SCAN: '0' } });

async function build(dir: string, close: boolean): Promise<LineageStore> {
  const store = await LineageStore.open(dir);
  for (let s = 0; s < 3000; s++) {
    const root = rootLineage(s === 7 ? 'dir "q"/données\n\\ü.jsonl' : `part-${s}`);
    const kids = [0, 1, 2].map((j) => childLineage('split', [root.udid], j));
    store.recordEmission({ stage: 'split', parents: [root], children: kids });
    store.recordEmission({ stage: 'filter', parents: [kids[0]!], children: [] });
    if (s % 10 === 0) store.recordFailure({ stage: 'map', task: kids[1]!, error: s % 20 === 0 ? `boom ${'x'.repeat(5000)} "end"` : 'short\nerror' });
    else store.recordEmission({ stage: 'write', parents: [kids[1]!], children: [childLineage('write', [kids[1]!.udid], 0)], terminal: true });
  }
  // One parent with 600 children: its `children` duplicates outgrow a page and become a sub-tree.
  const hub = rootLineage('hub');
  store.recordEmission({ stage: 'fan', parents: [hub], children: Array.from({ length: 600 }, (_, j) => childLineage('fan', [hub.udid], j)) });
  // A fan-in of 40 parents: an inline duplicate page in `parents`.
  const ins = Array.from({ length: 40 }, (_, j) => childLineage('fan', [hub.udid], j));
  store.recordEmission({ stage: 'gather', parents: ins, children: [childLineage('gather', ins.map((t) => t.udid), 0)] });
  if (close) await store.close();
  else await store.flush();
  return store;
}

describe('inspect --format ndjson: the page scan', () => {
  it('gives the same bytes as the lmdb-js scan and as TaskLineWriter', async () => {
    ensureBuilt();
    const dir = tempDir();
    await build(dir, true);
    const fast = pageScan(dir);
    const slow = cursorScan(dir);
    expect(fast.code).toBe(0);
    expect(fast.stderr).toBe('');
    expect(fast.stdout.split('\n').length - 1).toBe(3000 * 5 - 300 + 1 + 600 + 1);
    expect(fast.stdout).toBe(slow.stdout);
    const reader = await LineageStore.open(dir, { readOnly: true });
    const lines = new TaskLineWriter();
    expect(fast.stdout).toBe([...reader.tasks()].map((t) => lines.line(t) + '\n').join(''));
    await reader.close();
    expect(fast.stdout).toContain('"error":"boom xxx');
    expect(lineage(['inspect', dir, '--format', 'ndjson', '--limit', '5']).stdout.split('\n').length - 1).toBe(5);
  });

  it('the task table (plan, completion) reads the same from pages as through lmdb-js', async () => {
    const dir = tempDir();
    await build(dir, true);
    const reader = await LineageStore.open(dir, { readOnly: true });
    const table = () => {
      const t = loadTaskTable(reader.shards);
      return {
        udids: Array.from({ length: t.size }, (_, i) => t.udidAt(i)),
        columns: [t.emitStage, t.outcome, t.outcomeStage, t.terminal, t.recorded, t.root, t.parentStart, t.parents, t.childCount].map((a) => [...a]),
        stages: t.stageNames,
        sources: [...t.sourceKeys],
        errors: [...t.errors],
      };
    };
    const fromPages = table();
    process.env.LINEAGE_PAGE_SCAN = '0';
    try {
      expect(table()).toEqual(fromPages);
    } finally {
      delete process.env.LINEAGE_PAGE_SCAN;
    }
    expect(fromPages.errors.some(([, e]) => e.length > 5000)).toBe(true);
    await reader.close();
  });

  it('a damaged leaf page: LINEAGE_CORRUPT naming the file, one line, nothing on stdout', async () => {
    ensureBuilt();
    const dir = tempDir();
    await build(dir, true);
    const reader = await LineageStore.open(dir, { readOnly: true });
    const pages = PageFile.open(reader.shards[0]!);
    const root = pages.tree('meta')!.root;
    pages.close();
    await reader.close();
    const file = join(dir, 'writers', 'main', 'data.mdb');
    const fd = openSync(file, 'r+');
    try {
      const page = Buffer.alloc(4096);
      readSync(fd, page, 0, 4096, root * 4096);
      // LMDB data format 2: a 24-byte page header (flags at 18), node offsets counted from its end.
      expect(page.readUInt16LE(18) & 1).toBe(1); // a branch: the tree has leaves below it
      const node = 24 + page.readUInt16LE(24 + 2);
      const leaf = page.readUInt16LE(node) + page.readUInt16LE(node + 2) * 0x10000;
      writeSync(fd, Buffer.from([0, 0]), 0, 2, leaf * 4096 + 18);
    } finally {
      closeSync(fd);
    }
    const r = pageScan(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/LINEAGE_CORRUPT.*data\.mdb is damaged: page \d+ is neither a branch nor a leaf/);
  });

  it('reads a shard its writer is still recording into (tasks not yet in the udid index)', async () => {
    ensureBuilt();
    const dir = tempDir();
    const store = await build(dir, false);
    const fast = pageScan(dir);
    expect(fast.code).toBe(0);
    expect(fast.stdout).toBe(cursorScan(dir).stdout);
    await store.close();
  });
});
