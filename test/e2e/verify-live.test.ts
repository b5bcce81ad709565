// `lineage verify` on a checkpoint a live run is writing (issue 19, case 9):
// the reader sees one consistent snapshot of every shard, so a healthy live
// checkpoint verifies clean; a real inconsistency still fails.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { Shard } from '../../src/store/shard.js';
import { ROOT, ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

beforeAll(ensureBuilt);

function liveRun(ckpt: string, writerId = 'main'): Promise<{ stop: () => Promise<void>; alive: () => boolean }> {
  const child = spawn(process.execPath, [join(ROOT, 'test', 'children', 'pipeline-live.mjs'), ckpt, writerId], { stdio: ['ignore', 'pipe', 'inherit'] });
  let running = true;
  const exited = new Promise<void>((done) => child.on('exit', () => ((running = false), done())));
  return new Promise((ready, fail) => {
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`the live run exited early (${code})`)));
    createInterface({ input: child.stdout }).once('line', () =>
      ready({
        alive: () => running,
        stop: async () => {
          child.kill('SIGKILL');
          await exited;
        },
      }),
    );
  });
}

describe('lineage verify while a Pipeline run writes the checkpoint', () => {
  it('every verify of the healthy live checkpoint exits 0; a real inconsistency still fails', async () => {
    const ckpt = join(tempDir('lineage-verify-live-'), 'ckpt');
    const run = await liveRun(ckpt);
    try {
      for (let k = 0; k < 6; k++) {
        const r = lineage(['verify', ckpt]);
        expect(run.alive(), 'the run was still writing').toBe(true);
        expect(r.stderr, `verify ${k}`).toBe('');
        expect(r.stdout, `verify ${k}`).toContain('ok: no problems found.');
        expect(r.code, `verify ${k}`).toBe(0);
      }
    } finally {
      await run.stop();
    }
    expect(lineage(['verify', ckpt]).code).toBe(0);
    // A task marked complete whose subtree is not: still found.
    const shard = Shard.open(join(ckpt, 'writers', 'main'), 'main', false);
    let damaged = '';
    shard.env.transactionSync(() => {
      for (const { key, value } of shard.metaRows()) {
        if (value.readUInt32LE(26) === 0 && value[23] === 0) {
          damaged = value.subarray(0, 16).toString('hex');
          shard.editMeta(key, (row) => void row.writeUInt32LE(1, 26));
          break;
        }
      }
    });
    await shard.env.flushed;
    await shard.close();
    expect(damaged).not.toBe('');
    const bad = lineage(['verify', ckpt]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(damaged);
  }, 120_000);

  it('two writers with their own ids over the same sources, both live: every verify of the union exits 0', async () => {
    const ckpt = join(tempDir('lineage-verify-live-'), 'ckpt');
    const runs = [await liveRun(ckpt, 'a'), await liveRun(ckpt, 'b')];
    try {
      for (let k = 0; k < 4; k++) {
        const r = lineage(['verify', ckpt]);
        expect(runs.every((w) => w.alive()), 'both runs were still writing').toBe(true);
        expect(r.stderr, `verify ${k}`).toBe('');
        expect(r.stdout, `verify ${k}`).toContain('2 shards');
        expect(r.stdout, `verify ${k}`).toContain('ok: no problems found.');
        expect(r.code, `verify ${k}`).toBe(0);
      }
    } finally {
      await Promise.all(runs.map((w) => w.stop()));
    }
  }, 120_000);
});
