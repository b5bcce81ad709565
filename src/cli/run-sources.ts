/**
 * @internal
 * The sources `lineage run` feeds its pipeline: the keys of a `--sources` list
 * (each through the module's `sourceFromKey`, else `{ key, data: key }`), or
 * the module's own `sources`. The first source is produced before the run
 * starts, so a list or `sources` that fails at once fails before the checkpoint
 * is touched; an error of the user's code while the run reads sources becomes
 * LINEAGE_BAD_SOURCES naming the module (not an internal error). A synchronous
 * iterable stays synchronous: the runner reads those without awaiting.
 */
import { ErrorCodes, LineageError, isLineageError } from '../errors/lineage-error.js';
import type { Source } from '../model/source.js';
import { isIterable, type PipelineModule, type SourceStream } from './load-pipeline-module.js';
import type { SourceKey } from './read-source-list.js';

export async function runSources(mod: PipelineModule, list: { name: string; keys: AsyncIterable<SourceKey> } | null): Promise<SourceStream> {
  if (list) return primeAsync(fromKeys(list.name, list.keys, mod));
  if (!mod.sources) {
    throw new LineageError(
      ErrorCodes.BAD_SOURCES,
      `no sources to run: ${mod.path} exports no \`sources\`. Give a list with --sources <file> (one key per line, or - for standard input), ` +
        'or export `sources` from the module.',
    );
  }
  const bad = (what: string, cause?: unknown) =>
    new LineageError(ErrorCodes.BAD_SOURCES, `the \`sources\` of ${mod.path} ${what}`, cause === undefined ? undefined : { cause });
  let stream: unknown;
  try {
    stream = mod.sources();
  } catch (err) {
    throw bad(`threw: ${messageOf(err)}`, err);
  }
  if (!isIterable(stream)) throw bad('is neither an iterable nor an async iterable of sources (nor a function returning one).');
  const guard = (err: unknown) => (isLineageError(err) ? err : bad(`threw while the run read them: ${messageOf(err)}`, err));
  const asyncIt = (stream as Partial<AsyncIterable<Source>>)[Symbol.asyncIterator];
  if (typeof asyncIt === 'function') return primeAsync(guardAsync(asyncIt.call(stream), guard));
  return primeSync((stream as Iterable<Source>)[Symbol.iterator](), guard);
}

/** Sources for the keys of a list. */
async function* fromKeys(listName: string, keys: AsyncIterable<SourceKey>, mod: PipelineModule): AsyncGenerator<Source> {
  const make = mod.sourceFromKey;
  for await (const { key, line } of keys) {
    if (!make) {
      yield { key, data: key };
      continue;
    }
    const where = `the key ${JSON.stringify(key)} (line ${line} of ${listName})`;
    let source: Source;
    try {
      source = await make(key);
    } catch (err) {
      throw new LineageError(ErrorCodes.BAD_SOURCES, `sourceFromKey of ${mod.path} failed on ${where}: ${messageOf(err)}`, { cause: err });
    }
    if (typeof source !== 'object' || source === null || typeof source.key !== 'string' || source.key === '') {
      throw new LineageError(
        ErrorCodes.BAD_SOURCES,
        `sourceFromKey of ${mod.path} returned ${JSON.stringify(source) ?? String(source)} for ${where}; expected { key, data } with a non-empty key.`,
      );
    }
    yield source;
  }
}

async function* guardAsync(it: AsyncIterator<Source>, guard: (err: unknown) => unknown): AsyncGenerator<Source> {
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  } catch (err) {
    throw guard(err);
  } finally {
    await it.return?.();
  }
}

/** Pulls the first item now (errors surface here), then yields it and the rest. */
async function primeAsync(gen: AsyncGenerator<Source>): Promise<AsyncGenerator<Source>> {
  const first = await gen.next();
  return (async function* () {
    if (first.done) return;
    yield first.value;
    yield* gen;
  })();
}

function primeSync(it: Iterator<Source>, guard: (err: unknown) => unknown): Iterable<Source> {
  const next = () => {
    try {
      return it.next();
    } catch (err) {
      throw guard(err);
    }
  };
  const first = next();
  return (function* () {
    try {
      for (let r = first; !r.done; r = next()) yield r.value;
    } finally {
      it.return?.();
    }
  })();
}

function messageOf(err: unknown): string {
  if (isLineageError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
