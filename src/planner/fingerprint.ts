/**
 * Pipeline fingerprints (docs/design.md §6): the ordered stage ids, versions
 * and params hashes.
 * Comparing the checkpoint's fingerprint with the pipeline about to run tells
 * which stage is the first that changed; completion that depended on it or
 * on any later stage is void.
 */
import type { StageFingerprint } from '../store/manifest.js';

export interface FingerprintChange {
  /** Index (in the stored fingerprint) of the first stage that differs; -1 when nothing changed. */
  readonly firstChanged: number;
  /** Stage ids before the first change: their completion stays valid. */
  readonly kept: readonly string[];
  /** One line saying what changed, e.g. `stage "clean" changed version 1 → 2`; null when nothing did. */
  readonly description: string | null;
  /** `params-changed` when the first changed stage kept its id and version and only its params differ; else `stage-changed`; null when nothing changed. */
  readonly code: 'stage-changed' | 'params-changed' | null;
  /** With `params-changed`: the top-level keys added, removed or changed (empty when the params are not an object). */
  readonly paramsChanged?: readonly string[];
}

export function sameStage(a: StageFingerprint | undefined, b: StageFingerprint | undefined): boolean {
  return a !== undefined && b !== undefined && a.id === b.id && (a.version ?? null) === (b.version ?? null) && (a.params ?? null) === (b.params ?? null);
}

export function sameFingerprint(a: readonly StageFingerprint[], b: readonly StageFingerprint[]): boolean {
  return a.length === b.length && a.every((s, i) => sameStage(s, b[i]));
}

/** Compares the stored fingerprint with the current one. */
export function compareFingerprints(stored: readonly StageFingerprint[], current: readonly StageFingerprint[]): FingerprintChange {
  let i = 0;
  while (i < stored.length && i < current.length && sameStage(stored[i], current[i])) i++;
  if (i === stored.length && i === current.length) return { firstChanged: -1, kept: stored.map((s) => s.id), description: null, code: null };
  const kept = stored.slice(0, i).map((s) => s.id);
  const before = stored[i];
  const after = current[i];
  if (before && after && before.id === after.id && (before.version ?? null) === (after.version ?? null)) {
    const keys = changedKeys(before, after);
    const what = keys.length > 0 ? `: ${keys.join(', ')}` : '';
    return { firstChanged: i, kept, description: `stage "${before.id}" changed params${what}`, code: 'params-changed', paramsChanged: keys };
  }
  return { firstChanged: i, kept, description: describe(stored, current, i), code: 'stage-changed' };
}

/** Top-level params keys that differ between two fingerprints of one stage, sorted. */
function changedKeys(before: StageFingerprint, after: StageFingerprint): string[] {
  const a = before.paramKeys ?? {};
  const b = after.paramKeys ?? {};
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => a[k] !== b[k]).sort();
}

function describe(stored: readonly StageFingerprint[], current: readonly StageFingerprint[], i: number): string {
  const before = stored[i];
  const after = current[i];
  const v = (s: StageFingerprint) => s.version ?? '(none)';
  if (before && after && before.id === after.id) return `stage "${before.id}" changed version ${v(before)} → ${v(after)}`;
  if (before && after) {
    const moved = current.some((s) => s.id === before.id);
    return moved
      ? `stage order changed at position ${i + 1}: "${before.id}" → "${after.id}"`
      : `stage "${before.id}" at position ${i + 1} was replaced by "${after.id}"`;
  }
  if (before) return `stage "${before.id}" and any after it were removed`;
  return `stage "${after!.id}" was added at position ${i + 1}`;
}

export function formatFingerprint(fp: readonly StageFingerprint[] | null): string {
  if (!fp) return '(none)';
  return fp.map((s) => `${s.version === undefined ? s.id : `${s.id}@${s.version}`}${s.params === undefined ? '' : `[params ${s.params.slice(0, 8)}]`}`).join(' → ');
}
