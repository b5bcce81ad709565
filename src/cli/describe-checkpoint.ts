/**
 * @internal
 * What every `lineage` output about a checkpoint starts with: its lines in
 * text, its fields in JSON.
 */
import type { LineageStore } from '../store/lineage-store.js';
import type { StageFingerprint } from '../store/manifest.js';

export function checkpointHeader(store: LineageStore): string[] {
  const m = store.manifest;
  const shards = store.shards.map((s) => s.writerId);
  return [
    `checkpoint  ${store.dir}`,
    `format      ${m.format} ${m.formatVersion}, ${m.mode} mode, ${shards.length} ${shards.length === 1 ? 'shard' : 'shards'}${shards.length > 0 ? ` (${shards.join(', ')})` : ''}`,
  ];
}

export interface CheckpointFields {
  readonly path: string;
  readonly formatVersion: number;
  readonly mode: string;
  readonly fingerprint: readonly StageFingerprint[] | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The manifest's fields that `--format json` outputs start with (inspect, stats). */
export function checkpointFields(store: LineageStore): CheckpointFields {
  const m = store.manifest;
  return {
    path: store.dir,
    formatVersion: m.formatVersion,
    mode: m.mode,
    fingerprint: m.fingerprint,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
  };
}

/** `split → clean@2 → merge`: stage ids in order, with versions. */
export function fingerprintText(fingerprint: readonly StageFingerprint[] | null): string | null {
  if (!fingerprint || fingerprint.length === 0) return null;
  return fingerprint.map((s) => (s.version !== undefined ? `${s.id}@${s.version}` : s.id)).join(' → ');
}
