/**
 * The checkpoint manifest: a small JSON file naming the format version and the
 * pipeline fingerprint. Written atomically (temp file + rename) so a crash never
 * leaves half a manifest.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { writeFailure } from './write-failure.js';

export const MANIFEST_FILE = 'lineage.json';
export const FORMAT_NAME = 'lineage-dag';
/** The on-disk format: tasks keyed by compact ids, their type, outcome and completion in `meta` records (docs/design.md §3). */
export const FORMAT_VERSION = 4;

export interface StageFingerprint {
  readonly id: string;
  readonly version?: string;
  /** SHA-256 of the canonical JSON of the stage's `params`. */
  readonly params?: string;
  /** SHA-256 per top-level key of `params` (when they are an object): what lets a plan name the keys that changed. */
  readonly paramKeys?: Readonly<Record<string, string>>;
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
  /** Changes a user accepted as cosmetic (docs/design.md §6). */
  readonly acceptedChanges: AcceptedChange[];
  /** Tasks a user voided by hand (`lineage invalidate`), oldest first (docs/design.md §6). */
  readonly invalidations: Invalidation[];
}

/** One `lineage invalidate`: what was asked, and what it voided. */
export interface Invalidation {
  readonly at: string;
  /** Source keys, stage ids and task UDIDs asked for. */
  readonly sources: string[];
  readonly stages: string[];
  readonly udids: string[];
  /** Distinct tasks removed (everything downstream of what was asked). */
  readonly removed: number;
  /** Distinct tasks kept whose outcome was cleared, so that they are consumed again. */
  readonly reopened: number;
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
    invalidations: [],
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
  if (!m || typeof m !== 'object' || Array.isArray(m) || m.format !== FORMAT_NAME || typeof m.formatVersion !== 'number') {
    throw new LineageError(
      ErrorCodes.CORRUPT,
      `${file} is not a lineage-dag manifest (expected "format": "${FORMAT_NAME}" and a numeric formatVersion).`,
    );
  }
  if (!Number.isSafeInteger(m.formatVersion)) throw badField(file, 'formatVersion', m.formatVersion, 'a whole number');
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
  checkFields(file, m as Record<string, unknown>);
  return {
    ...newManifest(),
    ...m,
    fingerprint: m.fingerprint ?? null,
    acceptedChanges: m.acceptedChanges ?? [],
    invalidations: m.invalidations ?? [],
  } as Manifest;
}

/**
 * The type of every field the code reads. A field may be missing (manifests
 * written before it existed get its default), never of another type: a
 * string fingerprint or an unknown mode would otherwise be taken at face
 * value, or fail later as a bug.
 */
function checkFields(file: string, m: Record<string, unknown>): void {
  if (m.mode !== undefined && m.mode !== 'dag' && m.mode !== 'sources') throw badField(file, 'mode', m.mode, '"dag" or "sources"');
  for (const field of ['createdAt', 'updatedAt'] as const) {
    const t = m[field];
    if (t !== undefined && !isTime(t)) throw badField(file, field, t, 'an ISO time string');
  }
  if (m.fingerprint !== undefined && m.fingerprint !== null && !isFingerprint(m.fingerprint)) {
    throw badField(file, 'fingerprint', m.fingerprint, 'null or a list of { "id": string, "version"?: string, "params"?: string, "paramKeys"?: { key: string } }');
  }
  const voids = m.invalidations;
  if (voids !== undefined && !(Array.isArray(voids) && voids.every(isInvalidation))) {
    throw badField(file, 'invalidations', voids, 'a list of { "at": ISO time, "sources", "stages", "udids": string lists, "removed", "reopened": counts }');
  }
  const changes = m.acceptedChanges;
  if (changes !== undefined && !(Array.isArray(changes) && changes.every(isAcceptedChange))) {
    throw badField(file, 'acceptedChanges', changes, 'a list of { "from": fingerprint, "to": fingerprint, "at": ISO time }');
  }
}

function isTime(v: unknown): boolean {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v));
}

function isFingerprint(v: unknown): v is StageFingerprint[] {
  return (
    Array.isArray(v) &&
    v.every(
      (s: unknown) =>
        s !== null &&
        typeof s === 'object' &&
        typeof (s as StageFingerprint).id === 'string' &&
        (s as StageFingerprint).id.length > 0 &&
        ((s as StageFingerprint).version === undefined || typeof (s as StageFingerprint).version === 'string') &&
        ((s as StageFingerprint).params === undefined || typeof (s as StageFingerprint).params === 'string') &&
        isHashes((s as StageFingerprint).paramKeys),
    )
  );
}

function isHashes(v: unknown): boolean {
  if (v === undefined) return true;
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((h) => typeof h === 'string');
}

function isInvalidation(v: unknown): boolean {
  const i = v as Partial<Invalidation> | null;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  return (
    i !== null &&
    typeof i === 'object' &&
    isTime(i.at) &&
    strings(i.sources) &&
    strings(i.stages) &&
    strings(i.udids) &&
    Number.isSafeInteger(i.removed) &&
    Number.isSafeInteger(i.reopened)
  );
}

function isAcceptedChange(v: unknown): boolean {
  const c = v as Partial<AcceptedChange> | null;
  return c !== null && typeof c === 'object' && isFingerprint(c.from) && isFingerprint(c.to) && isTime(c.at);
}

function badField(file: string, field: string, found: unknown, expected: string): LineageError {
  const shown = JSON.stringify(found) ?? String(found);
  return new LineageError(
    ErrorCodes.CORRUPT,
    `${file}: the field "${field}" is ${shown.length > 80 ? `${shown.slice(0, 80)}…` : shown}, expected ${expected}. The checkpoint manifest is damaged; ` +
      'nothing was changed, and the work recorded in the writers/ directory is untouched. Restore lineage.json from a backup, or correct the field by hand.',
  );
}

/** Temp files of manifest writes in progress (ours or a concurrent process's). */
export const MANIFEST_TEMP = /^lineage\.json\.\d+\.tmp$/;

/** Writes the manifest atomically: a temp file beside it, fsync, rename. */
export function writeManifest(dir: string, manifest: Manifest): void {
  const file = join(dir, MANIFEST_FILE);
  const tmp = writeTemp(dir, file, manifest);
  try {
    renameSync(tmp, file);
  } catch (err) {
    removeTemp(tmp);
    throw writeFailure(dir, err, `writing ${MANIFEST_FILE}`);
  }
}

/**
 * Creates the manifest unless one exists: several workers may start on a new
 * checkpoint at once, and exactly one manifest must win (link fails if taken).
 */
export function createManifest(dir: string, manifest: Manifest): void {
  const file = join(dir, MANIFEST_FILE);
  const tmp = writeTemp(dir, file, manifest);
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailure(dir, err, `creating ${MANIFEST_FILE}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Writes the temp file; on any failure (a full disk, say) it is removed again, never left behind. */
function writeTemp(dir: string, file: string, manifest: Manifest): string {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(manifest, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    removeTemp(tmp);
    throw writeFailure(dir, err, `writing ${MANIFEST_FILE}`);
  }
  return tmp;
}

/** Removes a temp file of ours; the error being reported matters more than a failure to remove it. */
function removeTemp(tmp: string): void {
  try {
    rmSync(tmp, { force: true });
  } catch {
    // Nothing more to do: the next open of the checkpoint ignores stray manifest temp files.
  }
}
