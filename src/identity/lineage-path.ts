/**
 * Canonical lineage paths (docs/design.md §2). A path names a task by how it was
 * produced; hashing it gives the UDID. Child paths embed the parents' UDIDs,
 * de-duplicated and sorted, so they do not depend on arrival order and do not
 * grow under fan-in.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { isUdid } from './udid.js';

/** Where a child sits among its emission's children: an index, or a stable key. */
export type Slot = number | { key: string };

/** Length-prefixed string: `<UTF-8 byte length>:<s>`. */
export function lp(s: string): string {
  return `${Buffer.byteLength(s, 'utf8')}:${s}`;
}

/** The lineage path of the root task of the input named `sourceKey`. */
export function rootPath(sourceKey: string): string {
  if (typeof sourceKey !== 'string' || sourceKey.length === 0) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `rootPath: the source key must be a non-empty string, got ${JSON.stringify(sourceKey)}. ` +
        'Use a stable name for the input, such as its file path or partition id.',
    );
  }
  assertWellFormed(sourceKey, 'source key', 'rootPath');
  return `root:${lp(sourceKey)}`;
}

/** The lineage path of a child emitted by `stageId` from `parentUdids` at `slot`. */
export function childPath(stageId: string, parentUdids: readonly string[], slot: Slot): string {
  return emissionPrefix(stageId, parentUdids, false) + slotText(slot);
}

/**
 * @internal
 * What the paths of one emission's children share: everything up to the
 * slot. `checked`: the parent UDIDs are known valid (lineages made by
 * rootLineage/childLineage), so they are not checked again. An emission's
 * children then cost a slot each, not a check and a sort of the parents each.
 */
export function emissionPrefix(stageId: string, parentUdids: readonly string[], checked: boolean): string {
  assertStageId(stageId, 'childPath');
  if (parentUdids.length === 0) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `childPath: stage "${stageId}" emitted a child with no parents; every child needs at least one parent UDID.`,
    );
  }
  // No message is built unless one is thrown.
  if (!checked) for (const p of parentUdids) if (!isUdid(p)) throw badParent(stageId, p);
  return `stage:${lp(stageId)}|parents:${canonicalParents(parentUdids)}|slot:`;
}

function badParent(stageId: string, udid: unknown): LineageError {
  return new LineageError(
    ErrorCodes.INVALID_UDID,
    `childPath: parent of stage "${stageId}": expected a UDID of 32 lowercase hex characters, got ${JSON.stringify(udid)}.`,
  );
}

/** Parents de-duplicated and sorted ascending, joined by ",". */
export function canonicalParents(parentUdids: readonly string[]): string {
  if (parentUdids.length === 1) return parentUdids[0]!;
  return [...new Set(parentUdids)].sort().join(',');
}

/** @internal The last part of a child path (see emissionPrefix). */
export function slotText(slot: Slot): string {
  if (typeof slot === 'number') {
    if (!Number.isSafeInteger(slot) || slot < 0) {
      throw new LineageError(
        ErrorCodes.INVALID_ARGUMENT,
        `childPath: a slot index must be a non-negative integer, got ${slot}.`,
      );
    }
    return `i${slot}`;
  }
  if (slot === null || typeof slot !== 'object' || typeof slot.key !== 'string' || slot.key.length === 0) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `childPath: a slot must be an index or { key: non-empty string }, got ${JSON.stringify(slot)}.`,
    );
  }
  assertWellFormed(slot.key, 'child key', 'childPath');
  return `k${lp(slot.key)}`;
}

export function assertStageId(stageId: string, where: string): void {
  if (typeof stageId !== 'string' || stageId.length === 0) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `${where}: the stage id must be a non-empty string, got ${JSON.stringify(stageId)}. Give every stage a stable id.`,
    );
  }
  assertWellFormed(stageId, 'stage id', where);
}

/**
 * Throws LINEAGE_INVALID_KEY when `s` holds a lone UTF-16 surrogate. UTF-8
 * has no encoding for one (Buffer and TextEncoder write U+FFFD instead), so
 * "p\uD800", "p\uDBFF" and "p\uFFFD" would hash to one path and one UDID.
 */
export function assertWellFormed(s: string, what: string, where: string): void {
  if ((s as string & { isWellFormed(): boolean }).isWellFormed()) return;
  let at = 0;
  for (; at < s.length; at++) {
    const c = s.charCodeAt(at);
    if (c >= 0xd800 && c <= 0xdbff && at + 1 < s.length && (s.charCodeAt(at + 1) & 0xfc00) === 0xdc00) at++;
    else if ((c & 0xf800) === 0xd800) break;
  }
  const shown = s.length > 80 ? `${JSON.stringify(s.slice(Math.max(0, at - 20), at + 20))} (around it)` : JSON.stringify(s);
  throw new LineageError(
    ErrorCodes.INVALID_KEY,
    `${where}: the ${what} ${shown} holds a lone UTF-16 surrogate (\\u${s.charCodeAt(at).toString(16)} at position ${at}), which has no UTF-8 form: ` +
      'distinct keys would share one UDID. Give a well-formed string (decode file names and bytes properly, or use s.toWellFormed() and accept the merge).',
  );
}
