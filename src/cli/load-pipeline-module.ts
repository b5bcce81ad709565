/**
 * @internal
 * Loads the pipeline module `lineage run` is given. The module exports a
 * `Pipeline` as `default` or as `pipeline`; optionally `sources` (an iterable
 * or async iterable of sources, or a function returning one) and
 * `sourceFromKey(key)`, which turns a key from a `--sources` list into a
 * source. A pipeline is recognised by its shape (`stages` and `run`), not by
 * `instanceof`: the module may import its own copy of lineage-dag.
 *
 * Anything that goes wrong here is LINEAGE_MODULE_LOAD: the module is missing,
 * does not import (syntax error, missing dependency, a throw at top level), or
 * exports no pipeline.
 */
import { statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, LineageError, isLineageError } from '../errors/lineage-error.js';
import type { Source } from '../model/source.js';
import type { Pipeline } from '../runner/pipeline.js';

export type SourceStream = Iterable<Source> | AsyncIterable<Source>;

export interface PipelineModule {
  /** Absolute path of the module. */
  readonly path: string;
  readonly pipeline: Pipeline;
  /** Where the `pipeline` came from: `default` or `pipeline`. */
  readonly exportName: 'default' | 'pipeline';
  /** The module's own sources, when it exports `sources`. */
  readonly sources: (() => SourceStream) | null;
  /** Turns a key of a `--sources` list into a source; default `{ key, data: key }`. */
  readonly sourceFromKey: ((key: string) => Source | Promise<Source>) | null;
}

export async function loadPipelineModule(file: string): Promise<PipelineModule> {
  const path = resolve(file);
  const fail = (what: string, cause?: unknown) =>
    new LineageError(ErrorCodes.MODULE_LOAD, `cannot load the pipeline module ${path}: ${what}`, cause === undefined ? undefined : { cause });
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch (err) {
    throw fail('it does not exist. Give the path of a JavaScript module (.js or .mjs) that exports a Pipeline.', err);
  }
  if (!isFile) throw fail('it is a directory. Give the path of the module file itself, e.g. ./pipeline.js.');
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw fail(`importing it failed: ${describeImportError(err, path)}`, err);
  }
  const found = (['default', 'pipeline'] as const).map((name) => ({ name, value: exports[name] })).find((e) => isPipeline(e.value));
  if (!found) {
    const names = Object.keys(exports);
    throw fail(
      `it exports no Pipeline (as \`default\` or \`pipeline\`); its exports are ${names.length > 0 ? names.join(', ') : 'none'}. ` +
        'Add `export default new Pipeline([...])`.',
    );
  }
  const sources = exports.sources;
  if (sources !== undefined && typeof sources !== 'function' && !isIterable(sources)) {
    throw fail('its `sources` export is neither an iterable of sources nor a function returning one.');
  }
  const sourceFromKey = exports.sourceFromKey;
  if (sourceFromKey !== undefined && typeof sourceFromKey !== 'function') throw fail('its `sourceFromKey` export is not a function.');
  return {
    path,
    pipeline: found.value as Pipeline,
    exportName: found.name,
    sources: sources === undefined ? null : typeof sources === 'function' ? (sources as () => SourceStream) : () => sources as SourceStream,
    sourceFromKey: (sourceFromKey as PipelineModule['sourceFromKey']) ?? null,
  };
}

function isPipeline(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as { stages?: unknown; run?: unknown };
  return Array.isArray(p.stages) && typeof p.run === 'function';
}

export function isIterable(value: unknown): value is SourceStream {
  if (typeof value !== 'object' || value === null) return false;
  return typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function' || typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

function describeImportError(err: unknown, path: string): string {
  if (isLineageError(err)) return `${err.code}: ${err.message}`;
  const e: NodeJS.ErrnoException = err instanceof Error ? err : new Error(String(err));
  if (e.code === 'ERR_UNKNOWN_FILE_EXTENSION' && extname(path) === '.ts') return 'Node cannot import TypeScript directly; compile the module to JavaScript first.';
  const first = e.message.split('\n')[0] ?? '';
  return `${e.name}: ${first}`;
}
