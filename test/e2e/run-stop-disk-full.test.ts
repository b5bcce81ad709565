// The checkpoint's disk fills during a run (issue 19, case 5), on a real small tmpfs: the run stops
// admitting work at once, lets the calls in flight settle and ends with LINEAGE_DISK_FULL naming the
// path; no temp file of ours is left; after space is freed, a resume ends with the outputs of an
// uninterrupted run. Also: a run started on a full disk, and the manifest's temp file.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isLineageError } from '../../src/index.js';
import { newManifest, writeManifest, MANIFEST_FILE } from '../../src/store/manifest.js';
import { writeFailure } from '../../src/store/write-failure.js';
import { ensureBuilt, snapshotTree } from '../helpers/cli.js';
import { canMountSmallFs, mountSmallFs, type SmallFs } from '../helpers/small-fs.js';
import { callLog, callsIn, reportOf, startCli, stopOutputs, totalCalls } from '../helpers/stop-run.js';
import { tempDir } from '../helpers/temp-dir.js';

const mountable = canMountSmallFs();
const mounted: SmallFs[] = [];
let reference: Record<string, string> = {};
let freshCalls = 0;

function smallFs(bytes: number): SmallFs {
  const fs = mountSmallFs(bytes)!;
  mounted.push(fs);
  return fs;
}

afterEach(() => {
  for (const fs of mounted.splice(0)) fs.unmount();
});

/** Every file under `dir` whose name says it is a temp file of ours. */
function tempFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.tmp$|\.\d+\.tmp$|^\.ckpt\.merge-/.test(name)) found.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return found;
}

/** Fills the filesystem holding `file` up to the last byte. */
function fill(file: string): void {
  for (const size of [1 << 16, 512]) {
    try {
      for (;;) writeFileSync(file, Buffer.alloc(size, 1), { flag: 'a' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    }
  }
}

const lineageLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('lineage:'));

describe.skipIf(!mountable)('the checkpoint filesystem fills during a run (real tmpfs)', () => {
  beforeAll(async () => {
    ensureBuilt();
    const home = tempDir('lineage-diskfull-ref-');
    const r = await startCli(home, {}, ['--json']).done;
    expect(r.code, r.stderr).toBe(0);
    reference = stopOutputs(home);
    freshCalls = totalCalls(reportOf(r.stdout));
    expect(Object.keys(reference)).toHaveLength(40);
  }, 120_000);

  it('lineage run stops soon after, exits 1 with LINEAGE_DISK_FULL naming the path, leaves no temp file; a resume after freeing space is correct', async () => {
    const fs = smallFs(4 << 20);
    const home = tempDir();
    const ckpt = join(fs.dir, 'ckpt');
    const filler = join(fs.dir, 'filler');
    // The 5th output's write call fills the checkpoint's filesystem: the next commits fail.
    const r = await startCli(home, { STOP_SLOW_MS: '20', STOP_FILL: filler, STOP_FILL_AT: '5' }, [], ckpt).done;
    expect(r.code, r.stderr).toBe(1);
    // It stopped soon after: the calls started after the fill are those in flight plus the few started
    // before the next commit failed, nowhere near the ~245 calls the run still had to make.
    const log = callLog(home);
    expect(log).toContain('FILL');
    const afterFill = callsIn(log.slice(log.indexOf('FILL') + 1));
    expect(afterFill).toBeLessThanOrEqual(40);
    expect(Object.keys(stopOutputs(home)).length).toBeLessThan(20);
    const lines = lineageLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^lineage: LINEAGE_DISK_FULL: ${ckpt}/writers/main: .*filesystem is full \\(ENOSPC\\).*Free space on that filesystem`));
    expect(lines[0]).not.toMatch(/delete|remove/i);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(tempFiles(ckpt)).toEqual([]);
    // Space freed: the resume finishes, redoing less than a fresh run, with the outputs of an uninterrupted one.
    rmSync(filler);
    const before = callLog(home).length;
    const resumed = await startCli(home, {}, ['--json'], ckpt).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    const report = reportOf(resumed.stdout);
    expect(callsIn(callLog(home).slice(before))).toBe(totalCalls(report));
    expect(totalCalls(report)).toBeLessThan(freshCalls);
    expect(stopOutputs(home)).toEqual(reference);
    expect(tempFiles(ckpt)).toEqual([]);
  }, 120_000);

  it('a bigger run, whose commits go through the write thread: the same stop, the same code, and a correct resume', async () => {
    const fs = smallFs(32 << 20);
    const sources = { STOP_SOURCES: '5000' };
    const ref = tempDir();
    const whole = await startCli(ref, sources, ['--json']).done;
    expect(whole.code, whole.stderr).toBe(0);
    const home = tempDir();
    const ckpt = join(fs.dir, 'ckpt');
    const filler = join(fs.dir, 'filler');
    const r = await startCli(home, { ...sources, STOP_FILL: filler, STOP_FILL_AT: '3500' }, [], ckpt).done;
    expect(r.code, r.stderr).toBe(1);
    const log = callLog(home);
    const remaining = totalCalls(reportOf(whole.stdout)) - callsIn(log.slice(0, log.indexOf('FILL')));
    // The run had ~10,000 calls left when the disk filled; it made a small fraction of them.
    expect(remaining).toBeGreaterThan(9000);
    expect(callsIn(log.slice(log.indexOf('FILL') + 1))).toBeLessThan(remaining / 10);
    const lines = lineageLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^lineage: LINEAGE_DISK_FULL: ${ckpt}/writers/main: `));
    expect(tempFiles(ckpt)).toEqual([]);
    rmSync(filler);
    const resumed = await startCli(home, sources, ['--json'], ckpt).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(totalCalls(reportOf(resumed.stdout))).toBeLessThan(totalCalls(reportOf(whole.stdout)));
    expect(stopOutputs(home)).toEqual(stopOutputs(ref));
  }, 180_000);

  it('a run on a checkpoint whose filesystem is already full is refused with LINEAGE_DISK_FULL; nothing changes', async () => {
    const fs = smallFs(4 << 20);
    const home = tempDir();
    const ckpt = join(fs.dir, 'ckpt');
    const first = await startCli(home, { STOP_SOURCES: '5' }, [], ckpt).done;
    expect(first.code, first.stderr).toBe(0);
    fill(join(fs.dir, 'filler'));
    const before = snapshotTree(ckpt);
    const r = await startCli(home, {}, [], ckpt).done;
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expect(lineageLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^lineage: LINEAGE_DISK_FULL: ${ckpt}/writers/main: the checkpoint's filesystem is full`, 'm'));
    expect(snapshotTree(ckpt)).toEqual(before);
    expect(tempFiles(ckpt)).toEqual([]);
  }, 120_000);

  it('a new checkpoint on a full filesystem: LINEAGE_DISK_FULL, no crash, no lineage.json.<pid>.tmp left', async () => {
    const fs = smallFs(1 << 20);
    const home = tempDir();
    fill(join(fs.dir, 'filler'));
    const ckpt = join(fs.dir, 'ckpt');
    const r = await startCli(home, {}, [], ckpt).done;
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expect(lineageLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^lineage: LINEAGE_DISK_FULL: /m);
    expect(r.stderr).toContain(ckpt);
    expect(tempFiles(fs.dir)).toEqual([]);
  }, 120_000);

  it('writing the manifest on a full filesystem: LINEAGE_DISK_FULL, the old manifest intact, no temp file', () => {
    const fs = smallFs(1 << 20);
    const dir = join(fs.dir, 'ckpt');
    mkdirSync(dir);
    writeManifest(dir, newManifest());
    const old = readFileSync(join(dir, MANIFEST_FILE), 'utf8');
    fill(join(fs.dir, 'filler'));
    let caught: unknown;
    try {
      writeManifest(dir, { ...newManifest(), fingerprint: [{ id: 'x'.repeat(20_000) }] });
    } catch (err) {
      caught = err;
    }
    expect(isLineageError(caught, 'LINEAGE_DISK_FULL')).toBe(true);
    expect((caught as Error).message).toContain(dir);
    expect(readFileSync(join(dir, MANIFEST_FILE), 'utf8')).toBe(old);
    expect(readdirSync(dir)).toEqual([MANIFEST_FILE]);
  });
});

describe('what a failed write is called (errno → code)', () => {
  const dir = '/some/ckpt/writers/main';
  for (const [errno, code, words] of [
    [28, 'LINEAGE_DISK_FULL', /filesystem is full \(ENOSPC\)/],
    ['ENOSPC', 'LINEAGE_DISK_FULL', /filesystem is full \(ENOSPC\)/],
    [122, 'LINEAGE_DISK_FULL', /quota is used up \(EDQUOT\)/],
    [30, 'LINEAGE_READ_ONLY', /the filesystem is read-only \(EROFS\)/],
    ['EROFS', 'LINEAGE_READ_ONLY', /the filesystem is read-only \(EROFS\)/],
    [13, 'LINEAGE_PERMISSION_DENIED', /permission denied \(EACCES\)/],
    ['EPERM', 'LINEAGE_PERMISSION_DENIED', /permission denied \(EPERM\)/],
  ] as const) {
    it(`${errno} → ${code}`, () => {
      const err = writeFailure(dir, Object.assign(new Error('a write failed'), { code: errno }));
      expect(err.code).toBe(code);
      expect(err.message).toMatch(words);
      expect(err.message.startsWith(`${dir}: `)).toBe(true);
      expect(err.message).not.toMatch(/delete|remove|check that you may read/i);
    });
  }

  it('EIO is a full disk only when the filesystem has no room left', () => {
    const eio = () => Object.assign(new Error('Input/output error'), { code: 5 });
    expect(writeFailure(tempDir(), eio()).code).toBe('LINEAGE_WRITE_FAILED');
    if (!mountable) return;
    const fs = smallFs(1 << 20);
    fill(join(fs.dir, 'filler'));
    expect(writeFailure(fs.dir, eio()).code).toBe('LINEAGE_DISK_FULL');
  });
});
