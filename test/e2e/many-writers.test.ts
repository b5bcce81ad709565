import { execFile } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LineageStore, childLineage, completedSet, computeCompletion, mergeCheckpoint, rootLineage } from '../../src/index.js';
import { isNetworkFs, mountOf, networkFsWarning } from '../../src/store/mount-check.js';
import { tempDir } from '../helpers/temp-dir.js';

const run = promisify(execFile);
const child = new URL('../children/record-sources.mjs', import.meta.url).pathname;

function expectedUdids(first: number, count: number) {
  const out: string[] = [];
  for (let s = first; s < first + count; s++) {
    const root = rootLineage(`part-${s}`);
    const chunks = [0, 1, 2].map((j) => childLineage('split', [root.udid], j));
    const kept = chunks.filter((_, j) => (s + j) % 3 !== 0);
    const merged = childLineage('merge', kept.map((c) => c.udid), 0);
    out.push(root.udid, ...chunks.map((c) => c.udid), merged.udid, childLineage('write', [merged.udid], 0).udid);
  }
  return out.sort();
}

describe('several processes, one shard', () => {
  it('two processes started on the same writer: one records, the other is refused (LINEAGE_LOCKED) and, retried after it, loses nothing', async () => {
    const dir = tempDir();
    await (await LineageStore.open(dir)).close();
    const attempt = (first: string) =>
      run('node', [child, dir, 'main', first, '400']).then(
        (r) => ({ first, ok: r.stdout.trim() === 'done', stderr: r.stderr }),
        (e: { stderr: string }) => ({ first, ok: false, stderr: e.stderr }),
      );
    const results = await Promise.all([attempt('0'), attempt('400')]);
    for (const refused of results.filter((r) => !r.ok)) {
      expect(refused.stderr).toContain(ErrorCodes.LOCKED);
      expect((await attempt(refused.first)).ok).toBe(true);
    }
    const store = await LineageStore.open(dir, { readOnly: true });
    const all = [...store.tasks()].map((t) => t.udid).sort();
    expect(all).toEqual(expectedUdids(0, 800));
    const snapshot = computeCompletion(store);
    expect(completedSet(snapshot).size).toBe(all.length);
    for (let i = 0; i < snapshot.size; i++) expect(snapshot.recorded[i]).toBe(1);
    await store.close();
  });
});

describe('several writers, one checkpoint', () => {
  it('reads the union of shards; completion across shards is found by the batch pass', async () => {
    const dir = tempDir();
    const root = rootLineage('part-x');
    const a = childLineage('split', [root.udid], 0);
    const out = childLineage('write', [a.udid], 0);
    const w1 = await LineageStore.open(dir, { writerId: 'host-1' });
    w1.recordEmission({ stage: 'split', parents: [root], children: [a] });
    await w1.close();
    const w2 = await LineageStore.open(dir, { writerId: 'host-2' });
    w2.recordEmission({ stage: 'write', parents: [a], children: [out], terminal: true });
    await w2.close();
    const reader = await LineageStore.open(dir, { readOnly: true });
    expect(reader.shards.map((s) => s.writerId).sort()).toEqual(['host-1', 'host-2']);
    expect(reader.get(a.udid)).toMatchObject({ parents: [root.udid], children: [out.udid], taskType: 'middle' });
    expect(reader.isCompleted(root.udid)).toBe(true); // only the union knows
    expect(completedSet(computeCompletion(reader))).toEqual(new Set([root.udid, a.udid, out.udid]));
    await reader.close();
  });

  it('concurrent writers with their own ids, some killed and rerun, end with the same tasks as one writer', async () => {
    const dir = tempDir();
    const procs = [0, 1, 2].map((k) => run('node', [child, dir, `w${k}`, String(k * 300), '300']));
    // A fourth worker is killed part-way; its retry reuses its writer id and finishes the work.
    const doomed = execFile('node', [child, dir, 'w3', '900', '300']);
    await new Promise((r) => setTimeout(r, 300));
    doomed.kill('SIGKILL');
    await Promise.all(procs);
    await run('node', [child, dir, 'w3', '900', '300']);
    const single = tempDir();
    await run('node', [child, single, 'main', '0', '1200']);
    const union = await LineageStore.open(dir, { readOnly: true });
    const one = await LineageStore.open(single, { readOnly: true });
    expect(union.shards.length).toBe(4);
    expect([...union.tasks()].map((t) => t.udid).sort()).toEqual([...one.tasks()].map((t) => t.udid).sort());
    expect([...completedSet(computeCompletion(union))].sort()).toEqual([...completedSet(computeCompletion(one))].sort());
    await union.close();
    await one.close();
  });
});

describe('merge', () => {
  async function summary(dir: string) {
    const store = await LineageStore.open(dir, { readOnly: true });
    const tasks = [...store.tasks()].map((t) => ({ ...t, parents: [...t.parents].sort(), children: [...t.children].sort(), completed: store.isCompleted(t.udid) }));
    const result = { shards: store.shards.length, tasks: tasks.sort((a, b) => a.udid.localeCompare(b.udid)) };
    await store.close();
    return result;
  }

  it('compacts all shards into one environment, in place or into another directory, saying the same', async () => {
    const dir = tempDir();
    await Promise.all([0, 1, 2].map((k) => run('node', [child, dir, `w${k}`, String(k * 40), '40', k === 2 ? 'split' : 'write'])));
    // A failure and a completion that only the union knows.
    const w = await LineageStore.open(dir, { writerId: 'w9' });
    const root = rootLineage('part-80');
    w.recordFailure({ stage: 'filter', task: childLineage('split', [root.udid], 0), error: 'bad record' });
    await w.close();
    const before = await summary(dir);
    expect(before.shards).toBe(4);

    const elsewhere = join(tempDir(), 'merged');
    const copy = await mergeCheckpoint(dir, { into: elsewhere });
    expect(copy).toMatchObject({ shardsMerged: 4, tasks: before.tasks.length });
    const merged = await summary(elsewhere);
    expect(merged.shards).toBe(1);
    const strip = (s: typeof before) => s.tasks.map(({ udid, parents, children, taskType, outcome, stage, sourceKey, terminal, completed }) => ({ udid, parents, children, taskType, outcome, stage, sourceKey, terminal, completed }));
    expect(strip(merged)).toEqual(strip(before));

    await mergeCheckpoint(dir);
    const inPlace = await summary(dir);
    expect(inPlace.shards).toBe(1);
    expect(strip(inPlace)).toEqual(strip(before));
  });

  it('a merge cut off between its two renames loses nothing: the next open puts the shards back', async () => {
    const dir = tempDir();
    await Promise.all([0, 1].map((k) => run('node', [child, dir, `w${k}`, String(k * 20), '20'])));
    const before = await summary(dir);
    // The state a crash leaves between `writers → writers.pre-merge` and moving the merged shard in.
    renameSync(join(dir, 'writers'), join(dir, 'writers.pre-merge'));
    mkdirSync(join(dir, '..', `.${basename(dir)}.merge-x`, 'writers', 'main'), { recursive: true });
    expect(await summary(dir)).toEqual(before);
    expect(existsSync(join(dir, 'writers.pre-merge'))).toBe(false);
    renameSync(join(dir, 'writers'), join(dir, 'writers.pre-merge'));
    await mergeCheckpoint(dir);
    const after = await summary(dir);
    expect(after.shards).toBe(1);
    expect(after.tasks.map((t) => [t.udid, t.completed])).toEqual(before.tasks.map((t) => [t.udid, t.completed]));
  });
});

describe('shared filesystems', () => {
  const mountinfo = [
    '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
    '40 22 0:44 / /mnt/shared rw,relatime shared:20 - nfs4 fileserver:/export rw,vers=4.2',
    '41 22 0:45 / /home/me/remote\\040dir rw - fuse.sshfs me@box:/data rw',
    '42 40 0:46 / /mnt/shared/local rw - tmpfs tmpfs rw',
  ].join('\n');

  it('finds the filesystem of a path from mountinfo (longest mount point wins)', () => {
    expect(mountOf('/mnt/shared/ckpt', mountinfo)).toMatchObject({ fsType: 'nfs4', mountPoint: '/mnt/shared' });
    expect(mountOf('/mnt/shared/local/ckpt', mountinfo)).toMatchObject({ fsType: 'tmpfs' });
    expect(mountOf('/home/me/remote dir/x', mountinfo)).toMatchObject({ fsType: 'fuse.sshfs' });
    expect(mountOf('/mnt/sharedx', mountinfo)).toMatchObject({ fsType: 'ext4' });
    expect(['nfs', 'nfs4', 'cifs', 'fuse.sshfs'].every(isNetworkFs)).toBe(true);
    expect(['ext4', 'xfs', 'tmpfs', 'overlay'].some(isNetworkFs)).toBe(false);
  });

  it('warns with the filesystem type when a checkpoint is on a network mount', () => {
    const dir = tempDir();
    const fake = join(tempDir(), 'mountinfo');
    writeFileSync(fake, '22 1 8:1 / / rw - nfs4 fileserver:/export rw\n');
    expect(networkFsWarning(dir, fake)).toMatch(/is on a nfs4 filesystem \(fileserver:\/export at \/\)/);
    writeFileSync(fake, '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n');
    expect(networkFsWarning(dir, fake)).toBeNull();
  });

  it('bounds opening with a timeout that names the path', async () => {
    const dir = mkdtempSync(join(tempDir(), 'ckpt-'));
    execFileSync('mkfifo', [join(dir, 'lineage.json')]); // a read that never answers, like a hung mount
    const err = await LineageStore.open(dir, { readOnly: true, timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.TIMEOUT });
    expect((err as Error).message).toContain(dir);
    // Release the blocked read so the worker thread can finish.
    writeFileSync(join(dir, 'lineage.json'), '');
  });

  it('refuses a shard a live writer on another host holds, and takes over a dead one', async () => {
    const dir = tempDir();
    await (await LineageStore.open(dir, { writerId: 'w1' })).close();
    const shard = join(dir, 'writers', 'w1');
    mkdirSync(shard, { recursive: true });
    const owner = (ageMs: number) =>
      writeFileSync(
        join(shard, 'owner.json'),
        JSON.stringify({ host: `not-${hostname()}`, pid: 4242, startedAt: new Date().toISOString(), heartbeatAt: new Date(Date.now() - ageMs).toISOString() }),
      );
    owner(1000);
    const err = await LineageStore.open(dir, { writerId: 'w1' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.LOCKED });
    expect((err as Error).message).toMatch(/pid 4242 on host not-/);
    const reader = await LineageStore.open(dir, { readOnly: true }); // reading is always fine
    await reader.close();
    owner(10 * 60_000);
    await (await LineageStore.open(dir, { writerId: 'w1' })).close();
  });
});
