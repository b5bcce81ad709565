/**
 * The import graph of a source tree, and what breaks the layering: an
 * import into a higher layer, or a cycle of files. Reads `import … from`,
 * `export … from` and `import('…')` with relative specifiers, type-only
 * imports included (they couple the layers as much as the others).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Top-level folders of src/, lowest first. Folders of one rank may import each other only when `sameRank` allows it. */
export const LAYERS: readonly (readonly string[])[] = [['errors'], ['identity'], ['model'], ['store'], ['completion'], ['maintenance', 'planner'], ['runner'], ['cli']];

export interface LayerProblem {
  readonly kind: 'upward' | 'sideways' | 'cycle' | 'unknown-folder';
  readonly text: string;
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|^\s*import\s*['"](\.[^'"]+)['"]/gm;

function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
    }
  };
  walk(root);
  return out;
}

function resolveSpecifier(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  const stem = base.replace(/\.(js|mjs)$/, '');
  for (const candidate of [base, `${stem}.ts`, `${stem}.js`, `${stem}.mjs`, join(base, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** File (relative to `root`) → the files it imports (relative to `root`). */
export function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(root)) {
    const text = readFileSync(file, 'utf8');
    const targets: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const target = resolveSpecifier(file, (m[1] ?? m[2] ?? m[3])!);
      if (target !== undefined && target.startsWith(root)) targets.push(relative(root, target));
    }
    graph.set(relative(root, file), targets);
  }
  return graph;
}

function rankOf(file: string): number | undefined {
  if (!file.includes('/')) return LAYERS.length; // src/index.ts: the door, above everything
  const folder = file.split('/')[0]!;
  const rank = LAYERS.findIndex((names) => names.includes(folder));
  return rank < 0 ? undefined : rank;
}

/** Every import that points up or sideways between folders of one rank, every unknown top folder, and every cycle. */
export function layerProblems(root: string): LayerProblem[] {
  const graph = importGraph(root);
  const problems: LayerProblem[] = [];
  for (const [file, targets] of graph) {
    const from = rankOf(file);
    if (from === undefined) {
      problems.push({ kind: 'unknown-folder', text: `${file} is in a folder that is not a layer (${LAYERS.flat().join(', ')})` });
      continue;
    }
    for (const target of targets) {
      const to = rankOf(target);
      if (to === undefined) continue; // reported as its own file
      if (to > from) problems.push({ kind: 'upward', text: `${file} imports ${target}, a higher layer` });
      else if (to === from && file.split('/')[0] !== target.split('/')[0]) problems.push({ kind: 'sideways', text: `${file} imports ${target}, a folder of the same rank` });
    }
  }
  // Cycles: a depth-first search; each back edge closes one.
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string) => {
    state.set(file, 1);
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 1) {
        const cycle = [...stack.slice(stack.indexOf(target)), target].join(' -> ');
        if (!seen.has(cycle)) problems.push({ kind: 'cycle', text: cycle });
        seen.add(cycle);
      } else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(file, 2);
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return problems;
}
