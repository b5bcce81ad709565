/**
 * @internal
 * The checks a shard passes as it opens (Shard's constructor): its list of
 * sub-DBs, its JSON rows, its format record, and what a failed open of its
 * environment means. They read the shard through OpeningShard, so that this
 * module needs not import shard.ts.
 */
import { dirname } from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { moveAsideHint } from './lmdb-header.js';
import { notWritable, notWritableCode } from './write-access.js';

/** The sub-DBs a writer creates when it first opens its shard, and every name it may add to the root DB. */
const REQUIRED_SUB_DBS = ['udid', 'meta', 'parents', 'children', 'sources', 'errors', 'stages', 'runs', 'info', 'source_state'];
const KNOWN_SUB_DBS = new Set([...REQUIRED_SUB_DBS, 'absorbed', 'state_checkpoints', 'fingerprints', 'outputs']);

/** The on-disk layout this code reads and writes (info `format`, and the manifest's formatVersion). */
export const SHARD_FORMAT = 4;

/** What the checks read of the shard being opened (Shard meets it). */
export interface OpeningShard {
  readonly env: RootDatabase;
  readonly dir: string;
  readonly readOnly: boolean;
  readonly udid: unknown;
  readonly meta: unknown;
  readonly parents: unknown;
  readonly children: unknown;
  readonly sources: unknown;
  readonly errors: unknown;
  readonly stages: unknown;
  readonly runs: unknown;
  readonly info: Database<unknown, string>;
  readonly sourceState: unknown;
  damaged(what: string, cause?: unknown): LineageError;
}

/** The error to throw when the environment in `dir` could not be opened. */
export function openFailure(err: unknown, dir: string, dataFile: string, readOnly: boolean): LineageError {
  // Permissions and read-only mounts are not damage: say what they are, and never advise removing the data.
  const denied = notWritableCode(err);
  if (denied !== null && !readOnly) return notWritable(dirname(dirname(dir)), dir, denied, err);
  if (denied !== null) {
    return new LineageError(
      ErrorCodes.IO,
      `${dir} could not be opened for reading (${(err as Error).message}). Nothing was changed. Check that this user may read the directory and its files.`,
      { cause: err },
    );
  }
  if (err instanceof LineageError) return err;
  return new LineageError(
    ErrorCodes.CORRUPT,
    `${dataFile} could not be opened as an LMDB environment (${(err as Error).message}). Nothing was changed. ` +
      `Run \`lineage verify\` on the checkpoint; restore it from a backup, or, to redo this writer's work, move the directory out of the checkpoint, keeping it (${moveAsideHint(dir)}), and run again.`,
    { cause: err },
  );
}

/**
 * Before a writer opens (and so creates) its sub-DBs: a shard that lists
 * some of them but not all has a damaged list, and creating the missing
 * ones would hide what the damage took.
 */
export function checkSubDbNames(shard: OpeningShard, subDbs: number): void {
  const names = new Set<string>();
  try {
    for (const key of shard.env.getKeys()) names.add(String(key));
  } catch (err) {
    void shard.env.close();
    throw shard.damaged(`its list of sub-databases cannot be read (${(err as Error).message})`, err);
  }
  const unknown = [...names].filter((n) => !KNOWN_SUB_DBS.has(n));
  const missing = REQUIRED_SUB_DBS.filter((n) => !names.has(n));
  // A live writer may have added names since the header was read: fewer than it listed is damage.
  const problem =
    unknown.length > 0
      ? `its list of sub-databases holds names lineage-dag never writes (${JSON.stringify(unknown.slice(0, 3))})`
      : names.size < subDbs
        ? `its list of sub-databases shows ${names.size} of the ${subDbs} it holds`
        : !shard.readOnly && names.size > 0 && missing.length > 0
          ? `its list of sub-databases lacks ${missing.join(', ')}`
          : null;
  if (problem !== null) {
    void shard.env.close();
    throw shard.damaged(problem);
  }
}

/**
 * A writer creates every sub-DB when it first opens its shard: a read-only
 * shard with some of them but not others has a damaged list of sub-DBs.
 */
export function checkSubDbsFound(shard: OpeningShard): void {
  if (!shard.readOnly) return;
  const dbs = { udid: shard.udid, meta: shard.meta, parents: shard.parents, children: shard.children, sources: shard.sources, errors: shard.errors, stages: shard.stages, runs: shard.runs, info: shard.info, source_state: shard.sourceState };
  const missing = Object.entries(dbs).filter(([, db]) => !db).map(([name]) => name);
  if (missing.length === 0) return;
  // A writer that is just starting creates them one by one: only once one holds data are they all there.
  const holdsData = [shard.meta, shard.udid, shard.parents, shard.children, shard.sources].some((db) => {
    if (!db) return false;
    for (const _ of (db as unknown as { getKeys(o: object): Iterable<unknown> }).getKeys({ limit: 1 })) return true;
    return false;
  });
  if (holdsData) throw shard.damaged(`its sub-database${missing.length === 1 ? '' : 's'} ${missing.join(', ')} cannot be found`);
}

/** A JSON row that no longer parses is damage in this shard, not a bug. */
export function guardJsonRows(shard: OpeningShard, name: string, db: { get(key: unknown, options?: unknown): unknown }): void {
  const get = db.get.bind(db);
  db.get = (key: unknown, options?: unknown) => {
    try {
      return get(key, options);
    } catch (err) {
      if (err instanceof SyntaxError) throw shard.damaged(`the ${name} row ${JSON.stringify(key)} is not JSON (${err.message})`, err);
      throw err;
    }
  };
}

/** Stamps a new shard with SHARD_FORMAT; refuses a shard written in another layout. */
export function checkShardFormat(shard: OpeningShard): void {
  const found = shard.info?.get('format') as { version?: number } | undefined;
  if (found === undefined) {
    if (!shard.readOnly) shard.info.putSync('format', { version: SHARD_FORMAT });
    return;
  }
  if (found.version === SHARD_FORMAT) return;
  // Only formats 1 to 3 came before; a newer one is refused by the manifest before any shard is opened.
  if (typeof found !== 'object' || found === null || !Number.isInteger(found.version) || found.version! < 1 || found.version! > SHARD_FORMAT) {
    throw shard.damaged(`its format record is ${JSON.stringify(found)}, not a format this or an older lineage-dag wrote`);
  }
  const older = (found.version ?? 0) < SHARD_FORMAT;
  throw new LineageError(
    ErrorCodes.FORMAT_VERSION,
    `${shard.dir} holds checkpoint format ${found.version}; this lineage-dag reads format ${SHARD_FORMAT}. Nothing was changed. ` +
      (older
        ? 'Finish or inspect it with the lineage-dag version that wrote it, or start the run with a new checkpoint directory.'
        : 'Upgrade lineage-dag to read it.'),
  );
}
