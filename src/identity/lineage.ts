/**
 * A task's identity: its lineage path, UDID and the source it descends from.
 */
import { childPath, rootPath, slotText, type Slot } from './lineage-path.js';
import { digestOf } from './udid.js';

export interface Lineage {
  /** Canonical lineage path (docs/design.md §2). */
  readonly path: string;
  /** 32 lowercase hex characters: SHA-256 of the path, truncated. */
  readonly udid: string;
  /** The user's stable name of the input this task descends from. */
  readonly sourceKey: string;
}

/**
 * The lineages rootLineage and childLineage make. Besides the three fields
 * each carries a private note, for the recorder that last recorded it: the
 * task id it gave the lineage, so that when the same object comes back as a
 * parent the recorder needs neither to parse its UDID nor to look it up (a
 * million times in a W1 run). A note is for one recorder and one UDID: it
 * reads as absent for any other recorder, or once `udid` was reassigned.
 * Private fields are not properties: JSON, spreads, structured clones and
 * `toEqual` see the three fields only. Measured: docs/performance.md#lineage-note.
 */
class NotedLineage implements Lineage {
  readonly path: string;
  readonly udid: string;
  readonly sourceKey: string;
  #by: object | null = null;
  #udid = '';
  #note = 0;
  /** The `udid` this constructor made (a reassigned `udid` voids the note, origin and digest). */
  readonly #made: string;
  /** The parent UDIDs a child's path was made from (childOrigin), ROOT for a root, null for a childLineage. */
  readonly #origin: readonly string[] | null;

  constructor(path: string, sourceKey: string, origin: readonly string[] | null) {
    const digest = digestOf(path);
    this.path = path;
    this.udid = this.#made = digest.slice(0, 32);
    this.sourceKey = sourceKey;
    this.#origin = origin;
  }

  static originOf(lineage: unknown): readonly string[] | null {
    if (!(lineage instanceof NotedLineage) || lineage.#made !== lineage.udid) return null;
    const origin = lineage.#origin;
    return origin === ROOT ? null : origin;
  }

  static isRoot(lineage: unknown): boolean {
    return lineage instanceof NotedLineage && lineage.#origin === ROOT && lineage.#made === lineage.udid;
  }

  static madeUdidOf(lineage: unknown): string | null {
    return lineage instanceof NotedLineage && lineage.#made === lineage.udid ? lineage.#made : null;
  }

  static noteOf(lineage: unknown, by: object): number {
    return lineage instanceof NotedLineage && lineage.#by === by && lineage.#udid === lineage.udid ? lineage.#note : 0;
  }

  static note(lineage: unknown, by: object, value: number): void {
    if (!(lineage instanceof NotedLineage)) return;
    lineage.#by = by;
    lineage.#udid = lineage.udid;
    lineage.#note = value;
  }
}

/**
 * @internal
 * The parent UDIDs, in the caller's order, that the path of a child made by
 * assignChildLineage (whose `udid` was not reassigned) was made from: one
 * array, the call's own, shared by the children of one call, whose slots
 * differ (keys are unique), so no two of them have one UDID. Null for any
 * other lineage.
 */
export const childOrigin: (lineage: unknown) => readonly string[] | null = NotedLineage.originOf;

/**
 * @internal True for a lineage made by rootLineage whose `udid` was not
 * reassigned: its UDID hashes a root path, so it is no child's.
 */
export const isRootLineage: (lineage: unknown) => boolean = NotedLineage.isRoot;

/** The origin of roots: their paths have no parents, so no root's UDID is a child's. */
const ROOT: readonly string[] = [];

/** @internal What `by` noted on `lineage` (a number > 0), or 0: none, another recorder's, or not a lineage made here. */
export const lineageNote: (lineage: unknown, by: object) => number = NotedLineage.noteOf;

/** @internal Notes `value` (> 0) on `lineage` for `by`, when it is a lineage made here. */
export const noteLineage: (lineage: unknown, by: object, value: number) => void = NotedLineage.note;

/**
 * @internal A string whose first 32 characters are `lineage.udid` (the UDID itself), for a
 * lineage made here whose `udid` was not reassigned; else null. Such a UDID is
 * valid without a check: a recorder reads its bytes from it (trustedUdidWords).
 */
export const madeUdid: (lineage: unknown) => string | null = NotedLineage.madeUdidOf;

/** Lineage of the root task for the input named `sourceKey`. */
export function rootLineage(sourceKey: string): Lineage {
  return new NotedLineage(rootPath(sourceKey), sourceKey, ROOT);
}

/**
 * Lineage of a child emitted by `stageId` from `parents` at `slot`.
 * `sourceKey` is the parents' source (for a fan-in across sources, the
 * caller's choice; the pipeline uses the first parent's).
 * @example childLineage('split', [root.udid], 0, root.sourceKey)
 */
export function childLineage(stageId: string, parentUdids: readonly string[], slot: Slot, sourceKey = ''): Lineage {
  return new NotedLineage(childPath(stageId, parentUdids, slot), sourceKey, null);
}

/**
 * @internal The lineage of the child at `slot` of an emission whose
 * children's paths start with `prefix`: emissionPrefix of the parent UDIDs
 * `origin` (childOrigin), an array nobody changes afterwards.
 */
export function childLineageAt(prefix: string, slot: Slot, sourceKey: string, origin: readonly string[]): Lineage {
  return new NotedLineage(prefix + slotText(slot), sourceKey, origin);
}
