/**
 * @internal
 * The lines every human-readable `lineage` output starts with.
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

/** `split → clean@2 → merge`: stage ids in order, with versions. */
export function fingerprintText(fingerprint: readonly StageFingerprint[] | null): string | null {
  if (!fingerprint || fingerprint.length === 0) return null;
  return fingerprint.map((s) => (s.version !== undefined ? `${s.id}@${s.version}` : s.id)).join(' → ');
}
