/**
 * @internal
 * Turns what a user types into a task: a full UDID, a unique UDID prefix of at
 * least 6 hex characters (the tree shows 8), or a source key. A prefix is a
 * range scan over each shard's sorted `udid` index, so it costs a few B-tree
 * pages, plus a scan of the tasks a live or crashed writer has not indexed
 * yet (at most 2^22 per writer, udid-tail.ts), never a pass over the checkpoint.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { rootLineage } from '../identity/lineage.js';
import type { LineageStore } from '../store/lineage-store.js';

const HEX = /^[0-9a-f]+$/;

export function resolveUdid(store: LineageStore, text: string, option: string): string {
  const hex = text.toLowerCase();
  if (!HEX.test(hex) || hex.length < 6 || hex.length > 32) {
    throw new LineageError(
      ErrorCodes.INVALID_UDID,
      `${option} ${JSON.stringify(text)} is not a UDID: give the 32 hex characters, or a unique prefix of at least 6 (as \`lineage inspect\` shows).`,
    );
  }
  if (hex.length === 32) {
    if (!store.has(hex)) throw unknown(store, `task ${hex}`);
    return hex;
  }
  const matches = new Set<string>();
  const start = Buffer.from(hex.padEnd(32, '0'), 'hex');
  for (const shard of store.shards) {
    for (const { udid } of shard.udidEntries(start)) {
      if (udid.compare(start) < 0) continue;
      const full = udid.toString('hex');
      if (!full.startsWith(hex)) break;
      matches.add(full);
      if (matches.size > 1) break;
    }
    // Tasks the writer has not merged into the index yet (udid-tail.ts).
    for (const full of shard.tail.withPrefix(hex)) {
      matches.add(full);
      if (matches.size > 1) break;
    }
  }
  const [first, second] = [...matches];
  if (first === undefined) throw unknown(store, `no task whose UDID starts with ${hex}`);
  if (second !== undefined) {
    throw new LineageError(ErrorCodes.INVALID_UDID, `${option} ${hex} is ambiguous: ${first} and ${second} both start with it. Give more characters.`);
  }
  return first;
}

/** The root task of a source key. */
export function resolveSource(store: LineageStore, key: string): string {
  // A root's UDID follows from its key (docs/design.md §2): no scan needed.
  const udid = key.length > 0 ? rootLineage(key).udid : '';
  if (udid === '' || !store.has(udid)) throw unknown(store, `no source with key ${JSON.stringify(key)}`);
  return udid;
}

/** A source key, or else a UDID (prefix): what `--explain` accepts. */
export function resolveSourceOrUdid(store: LineageStore, text: string, option: string): { udid: string; sourceKey: string | null } {
  const root = text.length > 0 ? rootLineage(text).udid : '';
  if (root !== '' && store.has(root)) return { udid: root, sourceKey: text };
  if (HEX.test(text.toLowerCase()) && text.length >= 6) return { udid: resolveUdid(store, text, option), sourceKey: null };
  throw unknown(store, `no source key or UDID ${JSON.stringify(text)}`);
}

function unknown(store: LineageStore, what: string): LineageError {
  return new LineageError(
    ErrorCodes.UNKNOWN_TASK,
    `the checkpoint ${store.dir} holds ${what.startsWith('no ') ? what : `no ${what}`}. List what it holds with \`lineage inspect ${store.dir}\`.`,
  );
}
