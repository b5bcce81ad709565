/**
 * A stage's `params` as its fingerprint holds them (docs/design.md §6): the
 * SHA-256 of their canonical JSON (keys sorted at every level), and one hash
 * per top-level key, so a plan can name the keys that changed without the
 * manifest keeping the values themselves.
 *
 * Canonical means one text per value: only what JSON keeps exactly is taken
 * (plain objects, arrays, strings, finite numbers, booleans, null, and
 * objects with `toJSON` such as Date). A cycle, a function, a symbol, a
 * BigInt, `undefined`, NaN or Infinity, or a Map/Set/class instance (which
 * JSON would write as `{}`) is refused, so no two different configurations
 * can share a fingerprint.
 */
import { hash } from 'node:crypto';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';

export interface ParamsFingerprint {
  /** SHA-256 (hex) of the canonical JSON of the whole params value. */
  readonly params: string;
  /** SHA-256 (hex) of each top-level key's canonical JSON (params that are an object); absent otherwise. */
  readonly paramKeys?: Readonly<Record<string, string>>;
}

/** The fingerprint of a stage's params; throws INVALID_PIPELINE naming the stage and the path of the first value JSON cannot keep. */
export function paramsFingerprint(stageId: string, params: unknown): ParamsFingerprint {
  const text = canonicalJson(stageId, params, 'params', new Set());
  if (params === null || typeof params !== 'object' || Array.isArray(params) || typeof (params as { toJSON?: unknown }).toJSON === 'function') {
    return { params: sha256(text) };
  }
  // fromEntries defines own properties: assignment would drop a key named "__proto__" (JSON.parse keeps one).
  const paramKeys: Record<string, string> = Object.fromEntries(
    Object.keys(params)
      .sort()
      .map((key) => [key, sha256(canonicalJson(stageId, (params as Record<string, unknown>)[key], `params.${key}`, new Set()))]),
  );
  return { params: sha256(text), paramKeys };
}

/** Canonical JSON text of a params value: sorted keys, nothing JSON would change or drop. */
export function canonicalJson(stageId: string, value: unknown, path: string, seen: Set<object>): string {
  const refuse = (what: string) =>
    new LineageError(
      ErrorCodes.INVALID_PIPELINE,
      `stage "${stageId}": ${path} is ${what}, which JSON cannot keep exactly; params must be plain JSON (objects, arrays, strings, finite numbers, booleans, null).`,
    );
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw refuse(String(value));
      return JSON.stringify(value);
    case 'bigint':
      throw refuse(`a BigInt (${value}n)`);
    case 'function':
      throw refuse('a function');
    case 'symbol':
      throw refuse('a symbol');
    case 'undefined':
      throw refuse('undefined');
  }
  const object = value as object;
  if (seen.has(object)) throw refuse('a reference back to one of its own containers (a cycle)');
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return canonicalJson(stageId, toJSON.call(object), path, seen);
  seen.add(object);
  try {
    if (Array.isArray(object)) return `[${object.map((v, i) => canonicalJson(stageId, v, `${path}[${i}]`, seen)).join(',')}]`;
    const proto = Object.getPrototypeOf(object) as unknown;
    if (proto !== Object.prototype && proto !== null) throw refuse(`a ${(object as { constructor?: { name?: string } }).constructor?.name ?? 'non-plain'} object`);
    const keys = Object.keys(object).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(stageId, (object as Record<string, unknown>)[k], `${path}.${k}`, seen)}`).join(',')}}`;
  } finally {
    seen.delete(object);
  }
}

function sha256(text: string): string {
  return hash('sha256', text, 'hex');
}
