/**
 * The package as npm publishes it: packed with `npm pack`, unpacked, and
 * imported by name from a project beside it. Its runtime exports and its
 * declared API are pinned with a snapshot, so any change to the public
 * surface shows as a diff; nothing behind src/index.ts is reachable.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp-dir.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let project: string;
let pkg: string;

beforeAll(() => {
  project = tempDir('packed-');
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', project], { cwd: repo, encoding: 'utf8' })) as { filename: string }[];
  mkdirSync(join(project, 'node_modules'));
  execFileSync('tar', ['-xzf', join(project, packed[0]!.filename), '-C', project]);
  pkg = join(project, 'node_modules', 'lineage-dag');
  execFileSync('mv', [join(project, 'package'), pkg]);
  // The package's own dependencies, as an install would put them beside it.
  symlinkSync(join(repo, 'node_modules'), join(pkg, 'node_modules'));
  writeFileSync(join(project, 'package.json'), '{"type":"module","private":true}\n');
}, 120_000);

function nodeIn(dir: string, script: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' });
}

/** Each exported name with what it is; classes with their public members. */
function declaredApi(entry: string): string[] {
  const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry)!;
  const moduleSymbol = checker.getSymbolAtLocation(source)!;
  const lines: string[] = [];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const f = symbol.flags;
    const kind = f & ts.SymbolFlags.Class ? 'class' : f & ts.SymbolFlags.Function ? 'function' : f & ts.SymbolFlags.Interface ? 'interface'
      : f & ts.SymbolFlags.TypeAlias ? 'type' : f & ts.SymbolFlags.Enum ? 'enum' : f & ts.SymbolFlags.Variable ? 'const' : 'other';
    lines.push(`${kind} ${exported.name}`);
    if (kind !== 'class') continue;
    const decl = symbol.declarations!.find(ts.isClassDeclaration)!;
    for (const member of decl.members) {
      const mods = ts.getCombinedModifierFlags(member);
      if (mods & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected) || !member.name) continue;
      if (ts.isPrivateIdentifier(member.name)) continue;
      const statik = mods & ts.ModifierFlags.Static ? 'static ' : '';
      const what = ts.isMethodDeclaration(member) ? 'method' : ts.isGetAccessor(member) ? 'get' : ts.isPropertyDeclaration(member) ? 'property' : ts.isConstructorDeclaration(member) ? 'constructor' : 'member';
      lines.push(`  ${statik}${what} ${member.name.getText(decl.getSourceFile())}`);
    }
  }
  return [...new Set(lines)];
}

/** Every .d.ts the package's types reach, following relative imports from its entry. */
function reachableDeclarations(entry: string): Map<string, string> {
  const out = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (out.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    out.set(file, text);
    for (const m of text.matchAll(/(?:from\s+|import\(\s*)['"](\.[^'"]+)['"]/g)) todo.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.d.ts')));
  }
  return out;
}

describe('the packed package', () => {
  it('exports, by name, exactly the public runtime API', () => {
    const listed = nodeIn(project, `
      const m = await import('lineage-dag');
      console.log(JSON.stringify(Object.keys(m).sort().map((k) => k + ': ' + typeof m[k])));
    `);
    expect(JSON.parse(listed)).toMatchSnapshot();
  });

  it('declares exactly the public types, classes and their members', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { types: string };
    expect(declaredApi(join(pkg, manifest.types))).toMatchSnapshot();
  });

  it('names no lmdb type and no internal module in any declaration its types reach', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { types: string };
    const reached = reachableDeclarations(join(pkg, manifest.types));
    const leaks: string[] = [];
    for (const [file, text] of reached) {
      const rel = file.slice(pkg.length + 1);
      for (const m of text.matchAll(/(?:from\s+|import\(\s*)['"]([^.'"][^'"]*)['"]/g)) leaks.push(`${rel} imports ${m[1]}`);
      for (const name of ['Shard', 'WriterSession', 'UdidIndex', 'RootDatabase', 'Database', 'StateCheckpointLog']) {
        if (new RegExp(`\\b${name}\\b`).test(text)) leaks.push(`${rel} names ${name}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('refuses a deep import of an internal module', () => {
    const out = nodeIn(project, `
      try { await import('lineage-dag/dist/store/shard.js'); console.log('reachable'); }
      catch (e) { console.log(e.code); }
    `);
    expect(out.trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('ships the lineage binary, which runs from the unpacked package', () => {
    const out = execFileSync(process.execPath, [join(pkg, 'bin', 'lineage.js'), '--version'], { cwd: project, encoding: 'utf8' });
    const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
    expect(out.trim()).toBe(version);
  });
});
