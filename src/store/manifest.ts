/**
 * The checkpoint manifest: a small JSON file naming the format version and the
 * pipeline fingerprint. Written atomically (temp file + rename) so a crash never
 * leaves half a manifest.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';

export const MANIFEST_FILE = 'lineage.json';
export const FORMAT_NAME = 'lineage-dag';
/** 2: task type, outcome and completion live in the `meta` rows (shard.ts). */
export const FORMAT_VERSION = 3;

export interface StageFingerprint {
  readonly id: string;
  readonly version?: string;
}

export interface AcceptedChange {
  /** Fingerprint the checkpoint had before the change. */
  readonly from: StageFingerprint[];
  /** Fingerprint accepted as equivalent. */
  readonly to: StageFingerprint[];
  readonly at: string;
}

export interface Manifest {
  readonly format: typeof FORMAT_NAME;
  readonly formatVersion: number;
  readonly mode: 'dag' | 'sources';
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Ordered stage ids and versions of the pipeline that last wrote here. */
  readonly fingerprint: StageFingerprint[] | null;
  /** Changes a user accepted as cosmetic (DESIGN.md §6). */
  readonly acceptedChanges: AcceptedChange[];
}

export function newManifest(mode: Manifest['mode'] = 'dag'): Manifest {
  const now = new Date().toISOString();
  return {
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    mode,
    createdAt: now,
    updatedAt: now,
    fingerprint: null,
    acceptedChanges: [],
  };
}

/** Reads and validates the manifest in `dir`; throws a LineageError naming the file. */
export function readManifest(dir: string): Manifest {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LineageError(
      ErrorCodes.NOT_A_CHECKPOINT,
      `${dir} is not a lineage checkpoint: ${MANIFEST_FILE} is missing. ` +
        'Point at the directory a pipeline run wrote with --checkpoint.',
      { cause: err },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new LineageError(
      ErrorCodes.CORRUPT,
      `${file} is not valid JSON (${text.length} bytes). The checkpoint manifest is damaged; nothing was changed, and the work ` +
        'recorded in the writers/ directory is untouched. Restore lineage.json from a backup (or start over in a new checkpoint directory).',
      { cause: err },
    );
  }
  const m = value as Partial<Manifest> | null;
  if (!m || typeof m !== 'object' || m.format !== FORMAT_NAME || typeof m.formatVersion !== 'number') {
    throw new LineageError(
      ErrorCodes.CORRUPT,
      `${file} is not a lineage-dag manifest (expected "format": "${FORMAT_NAME}" and a numeric formatVersion).`,
    );
  }
  if (m.formatVersion > FORMAT_VERSION) {
    throw new LineageError(
      ErrorCodes.FORMAT_VERSION,
      `${dir} was written with checkpoint format ${m.formatVersion}; this lineage-dag reads format ${FORMAT_VERSION} and older. ` +
        'Upgrade lineage-dag to read it.',
    );
  }
  if (m.formatVersion < FORMAT_VERSION) {
    throw new LineageError(
      ErrorCodes.FORMAT_VERSION,
      `${dir} was written with checkpoint format ${m.formatVersion}; this lineage-dag reads format ${FORMAT_VERSION}. Nothing was changed. ` +
        'Finish or inspect it with the lineage-dag version that wrote it, or start the run with a new checkpoint directory.',
    );
  }
  return {
    ...newManifest(),
    ...m,
    fingerprint: m.fingerprint ?? null,
    acceptedChanges: m.acceptedChanges ?? [],
  } as Manifest;
}

/** Temp files of manifest writes in progress (ours or a concurrent process's). */
export const MANIFEST_TEMP = /^lineage\.json\.\d+\.tmp$/;

/** Writes the manifest atomically: a temp file beside it, fsync, rename. */
export function writeManifest(dir: string, manifest: Manifest): void {
  const file = join(dir, MANIFEST_FILE);
  renameSync(writeTemp(file, manifest), file);
}

/**
 * Creates the manifest unless one exists: several workers may start on a new
 * checkpoint at once, and exactly one manifest must win (link fails if taken).
 */
export function createManifest(dir: string, manifest: Manifest): void {
  const file = join(dir, MANIFEST_FILE);
  const tmp = writeTemp(file, manifest);
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function writeTemp(file: string, manifest: Manifest): string {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(manifest, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}
