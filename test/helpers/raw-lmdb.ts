/**
 * Reads a writer environment's sub-DBs with the stock lmdb package in a
 * child process, as any other program would (nothing of lineage-dag's code
 * is involved): the names of the named sub-DBs, and a sub-DB's entries
 * with their values as hex.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

const SCRIPT = `
const { open } = require('lmdb');
const [path, name] = process.argv.slice(1);
const env = open({ path, readOnly: true, maxDbs: 32 });
const out = { names: [], entries: [] };
for (const key of env.getKeys()) out.names.push(String(key));
if (name) {
  const db = env.openDB(name, { keyEncoding: 'binary', encoding: 'binary', dupSort: process.env.DUPSORT === '1' });
  for (const { key, value } of db.getRange()) out.entries.push([key.toString('hex'), value.toString('hex')]);
}
process.stdout.write(JSON.stringify(out));
`;

export interface RawEnv {
  /** The root DB's keys: the names of the named sub-DBs. */
  readonly names: string[];
  /** [key hex, value hex] of every entry of the sub-DB asked for (every duplicate of a dupSort one). */
  readonly entries: [string, string][];
}

/** The sub-DB names of the environment in `dir`, and the entries of `name` (`dupSort`: it is one). */
export function readRaw(dir: string, name?: string, dupSort = false): RawEnv {
  const out = execFileSync(process.execPath, ['-e', SCRIPT, dir, name ?? ''], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: { ...process.env, DUPSORT: dupSort ? '1' : '0' },
  });
  return JSON.parse(out) as RawEnv;
}

/** Entries of a sub-DB (every duplicate counts). */
export function rawEntries(dir: string, name: string, dupSort = false): number {
  return readRaw(dir, name, dupSort).entries.length;
}

/**
 * Edges in an edge sub-DB (`parents` or `children`): a 5-byte value is one
 * id, a 9-byte value the run of ids from its first u32 BE to its second (the
 * last byte of each is a check byte).
 */
export function rawEdges(dir: string, name: 'parents' | 'children'): number {
  let edges = 0;
  for (const [, hex] of readRaw(dir, name, true).entries) {
    const v = Buffer.from(hex, 'hex');
    if (v.length === 5) edges++;
    else if (v.length === 9 && v.readUInt32BE(4) > v.readUInt32BE(0)) edges += v.readUInt32BE(4) - v.readUInt32BE(0) + 1;
    else throw new Error(`${name} in ${dir}: a value of ${v.length} bytes (${hex})`);
  }
  return edges;
}
