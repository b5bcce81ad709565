// A `lineage merge` killed with SIGKILL leaves its working directory
// `.<ckpt>.merge-*` behind (issue 19, case 11); the next merge, or the next
// writer to open the checkpoint, removes it when it is provably a merge of
// this checkpoint whose process is gone, and leaves anything else alone.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { LineageStore } from '../../src/index.js';
import { processStartTime } from '../../src/store/process-identity.js';
import { BIN, ROOT, ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const run = promisify(execFile);
const RECORD = join(ROOT, 'test', 'children', 'record-sources.mjs');

beforeAll(ensureBuilt);

const leftovers = (ckpt: string) => readdirSync(dirname(ckpt)).filter((n) => n.startsWith(`.${basename(ckpt)}.merge-`));

/**
 * Starts `lineage merge <ckpt>` and SIGKILLs its process group (the command and the child that
 * runs its LMDB work, as a machine crash or `kill -9` of the job would) once its working directory
 * holds the merged shard being written: killing the command alone lets a small merge finish in the
 * child before it sees its parent gone.
 */
async function killedMerge(ckpt: string): Promise<void> {
  const child = spawn(process.execPath, [BIN, 'merge', ckpt], { cwd: ROOT, stdio: 'ignore', detached: true });
  const exited = new Promise<NodeJS.Signals | null>((done) => child.on('exit', (_code, signal) => done(signal)));
  let killed = false;
  for (let i = 0; i < 4000 && !killed; i++) {
    const work = leftovers(ckpt)[0];
    const shard = (...at: string[]) => existsSync(join(dirname(ckpt), work ?? '-', ...at, 'writers', 'main', 'data.mdb'));
    if (work !== undefined && (shard() || shard('ckpt'))) {
      process.kill(-child.pid!, 'SIGKILL');
      killed = true;
    } else await new Promise((r) => setTimeout(r, 2));
  }
  expect(await exited).toBe('SIGKILL');
  // The command runs its LMDB work in a child that ends when it sees its parent gone: a merge
  // directory whose process still lives is rightly left alone, so wait until it has ended.
  const work = leftovers(ckpt)[0];
  const marker = work === undefined ? null : join(dirname(ckpt), work, 'merge.json');
  // Up to 60 s: on a loaded machine the child can take seconds to see the disconnect.
  for (let i = 0; i < 6000 && marker !== null && existsSync(marker); i++) {
    const pid = (JSON.parse(readFileSync(marker, 'utf8')) as { pid: number }).pid;
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a killed merge', () => {
  it('leaves .ckpt.merge-* behind; the next merge removes it and succeeds; a foreign or live one is left alone', async () => {
    // The kill must land while the merge works; a merge that swapped its result in first (the
    // kill came a moment late) tests nothing, so that attempt starts over on a fresh checkpoint.
    let ckpt = '';
    let before = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      ckpt = join(tempDir('lineage-merge-kill-'), 'ckpt');
      await Promise.all([0, 1, 2].map((k) => run(process.execPath, [RECORD, ckpt, `w${k}`, String(k * 2000), '2000'])));
      before = lineage(['stats', ckpt, '--json']).stdout;
      await killedMerge(ckpt);
      if (leftovers(ckpt).length > 0 || readdirSync(join(ckpt, 'writers')).length === 3) break;
    }
    expect(leftovers(ckpt).length).toBe(1);
    expect(readdirSync(join(ckpt, 'writers')).sort()).toEqual(['w0', 'w1', 'w2']); // killed before the swap: untouched

    // Not provably a merge's: a directory with files and no marker, and one whose marker names a live process.
    const parent = dirname(ckpt);
    const foreign = join(parent, `.${basename(ckpt)}.merge-AbC123`);
    mkdirSync(join(foreign, 'keep'), { recursive: true });
    writeFileSync(join(foreign, 'keep', 'notes.txt'), 'mine\n');
    const live = join(parent, `.${basename(ckpt)}.merge-LiVe99`);
    mkdirSync(live);
    const sleeper = spawn('sleep', ['30']);
    try {
      await new Promise((r) => sleeper.once('spawn', r));
      writeFileSync(join(live, 'merge.json'), JSON.stringify({ from: ckpt, host: hostname(), pid: sleeper.pid, pidStart: processStartTime(sleeper.pid!) }));
      writeFileSync(join(live, 'partial'), 'x');

      const merged = lineage(['merge', ckpt]);
      expect(merged.stderr).toBe('');
      expect(merged.code).toBe(0);
      expect(leftovers(ckpt).sort()).toEqual([basename(live), basename(foreign)].sort());
      expect(readdirSync(join(ckpt, 'writers'))).toEqual(['main']);
      const after = JSON.parse(lineage(['stats', ckpt, '--json']).stdout) as { tasks: number };
      expect(after.tasks).toBe((JSON.parse(before) as { tasks: number }).tasks);
      expect(lineage(['verify', ckpt]).code).toBe(0);
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }
    // Its process gone, the "live" one is removed by the next writer to open the checkpoint; the foreign one stays.
    await (await LineageStore.open(ckpt)).close();
    expect(leftovers(ckpt)).toEqual([basename(foreign)]);
  }, 120_000);
});
