import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FORMAT_VERSION } from '../../src/index.js';

export interface BadCheckpoint {
  readonly name: string;
  /** Makes the bad thing under `parent`; returns the path to give the command and the path its message must name. */
  make(parent: string, good: string): { arg: string; named: string };
  readonly code: string;
  /** Bad only to read: `lineage run` creates a checkpoint there. */
  readonly runCreates?: true;
}

const dataFile = (ckpt: string) => join(ckpt, 'writers', 'main', 'data.mdb');

/** Everything a user can point a checkpoint argument at that is not a usable checkpoint. `good` is a built checkpoint to copy. */
export const BAD_CHECKPOINTS: readonly BadCheckpoint[] = [
  {
    name: 'a missing path',
    code: 'LINEAGE_NOT_A_CHECKPOINT',
    runCreates: true,
    make: (parent) => ({ arg: join(parent, 'no-such-ckpt'), named: join(parent, 'no-such-ckpt') }),
  },
  {
    name: 'a file instead of a directory',
    code: 'LINEAGE_NOT_A_CHECKPOINT',
    make: (parent) => {
      const file = join(parent, 'ckpt.txt');
      writeFileSync(file, 'not a checkpoint\n');
      return { arg: file, named: file };
    },
  },
  {
    name: 'an empty directory',
    code: 'LINEAGE_NOT_A_CHECKPOINT',
    runCreates: true,
    make: (parent) => {
      const dir = join(parent, 'empty');
      mkdirSync(dir);
      return { arg: dir, named: dir };
    },
  },
  {
    name: 'a directory that is not a checkpoint',
    code: 'LINEAGE_NOT_A_CHECKPOINT',
    make: (parent) => {
      const dir = join(parent, 'photos');
      mkdirSync(join(dir, '2024'), { recursive: true });
      writeFileSync(join(dir, 'notes.txt'), 'hello\n');
      return { arg: dir, named: dir };
    },
  },
  {
    name: 'a truncated data.mdb',
    code: 'LINEAGE_CORRUPT',
    make: (parent, good) => {
      const ckpt = join(parent, 'ckpt');
      cpSync(good, ckpt, { recursive: true });
      truncateSync(dataFile(ckpt), Math.floor(statSync(dataFile(ckpt)).size / 2) + 100);
      return { arg: ckpt, named: dataFile(ckpt) };
    },
  },
  {
    name: 'a 0-byte data.mdb',
    code: 'LINEAGE_CORRUPT',
    make: (parent, good) => {
      const ckpt = join(parent, 'ckpt');
      cpSync(good, ckpt, { recursive: true });
      truncateSync(dataFile(ckpt), 0);
      return { arg: ckpt, named: dataFile(ckpt) };
    },
  },
  {
    name: 'a 0-byte data.mdb in a second shard no writer holds',
    code: 'LINEAGE_CORRUPT',
    make: (parent, good) => {
      const ckpt = join(parent, 'ckpt');
      cpSync(good, ckpt, { recursive: true });
      mkdirSync(join(ckpt, 'writers', 'w2'));
      writeFileSync(join(ckpt, 'writers', 'w2', 'data.mdb'), '');
      return { arg: ckpt, named: join(ckpt, 'writers', 'w2', 'data.mdb') };
    },
  },
  {
    name: 'a garbage-filled data.mdb',
    code: 'LINEAGE_CORRUPT',
    make: (parent, good) => {
      const ckpt = join(parent, 'ckpt');
      cpSync(good, ckpt, { recursive: true });
      writeFileSync(dataFile(ckpt), randomBytes(statSync(dataFile(ckpt)).size));
      return { arg: ckpt, named: dataFile(ckpt) };
    },
  },
  {
    name: 'a manifest with a newer format version',
    code: 'LINEAGE_FORMAT_VERSION',
    make: (parent, good) => {
      const ckpt = join(parent, 'ckpt');
      cpSync(good, ckpt, { recursive: true });
      const file = join(ckpt, 'lineage.json');
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), formatVersion: FORMAT_VERSION + 1 }, null, 2));
      return { arg: ckpt, named: ckpt };
    },
  },
  {
    name: 'a checkpoint of the older format 1 (lineage-dag 0.1)',
    code: 'LINEAGE_FORMAT_VERSION',
    make: (parent, good) => {
      const ckpt = join(parent, 'ckpt');
      cpSync(good, ckpt, { recursive: true });
      const file = join(ckpt, 'lineage.json');
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), formatVersion: 1 }, null, 2));
      return { arg: ckpt, named: ckpt };
    },
  },
  {
    name: 'a manifest that is not JSON',
    code: 'LINEAGE_CORRUPT',
    make: (parent, good) => {
      const ckpt = join(parent, 'ckpt');
      cpSync(good, ckpt, { recursive: true });
      const file = join(ckpt, 'lineage.json');
      writeFileSync(file, readFileSync(file, 'utf8').slice(0, 40));
      return { arg: ckpt, named: file };
    },
  },
];
