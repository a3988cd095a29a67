// The import graph of src/ by layer: how many file-to-file edges run from each layer to each
// other layer, the edges the layering of eslint.config.mjs forbids, and the cycles (strongly
// connected groups of files).
//   node scripts/import-graph.mjs [ROOT] [--tests]
// ROOT is the checkout to read (default: this one). Test files (*.test.ts, *.test-util.ts,
// *.contract.ts, test-fixtures.ts) are left out unless --tests. An edge is type-only when
// every name it imports is a type (`import type`, `import { type A }`, `export type … from`):
// it is erased at compile time, so it cannot form a load-order cycle; cycles are reported
// twice, with and without type-only edges. The lint (`import-x/no-cycle`) checks the runtime
// graph, the same as the second count here.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';

const args = process.argv.slice(2);
const withTests = args.includes('--tests');
const root = resolve(args.find((a) => !a.startsWith('--')) ?? '.');
const require = createRequire(join(process.cwd(), 'package.json'));
const ts = require('typescript');
const src = join(root, 'src');

const isTest = (p) => /\.(test|test-util|contract)\.ts$/.test(p) || p.endsWith('/test-fixtures.ts');
const files = [];
(function walk(d) {
  for (const n of readdirSync(d).sort()) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts') && (withTests || !isTest(p))) files.push(p);
  }
})(src);

function layer(p) {
  const r = relative(src, p);
  if (!r.includes('/')) return r === 'main.ts' ? r : '(src/*.ts)'; // main.ts; other top-level files (lint.test.ts)
  return r.split('/')[0];
}

function resolveImport(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  const t = resolve(dirname(from), spec);
  if (existsSync(t + '.ts')) return t + '.ts';
  if (existsSync(join(t, 'index.ts'))) return join(t, 'index.ts');
  return undefined; // cri/generated (.js/.d.ts), JSON and the like: outside the graph
}

/** @returns Map<target, typeOnly> */
function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const out = new Map();
  const add = (spec, typeOnly) => {
    const t = resolveImport(file, spec);
    if (!t || !t.startsWith(src + '/')) return;
    out.set(t, (out.get(t) ?? true) && typeOnly);
  };
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const c = st.importClause;
      let typeOnly = false;
      if (c) {
        const named = c.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
        typeOnly = c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly));
      }
      add(st.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      const named = st.exportClause && ts.isNamedExports(st.exportClause) ? st.exportClause.elements : undefined;
      add(st.moduleSpecifier.text, st.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
    }
  }
  // Dynamic import('…') anywhere in the file: a runtime edge.
  (function visit(n) {
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      add(n.arguments[0].text, false);
    }
    ts.forEachChild(n, visit);
  })(sf);
  return out;
}

const edges = new Map(files.map((f) => [f, importsOf(f)]));
// The layering of eslint.config.mjs: what each layer may import besides itself.
const MAY = {
  'main.ts': null, // anything
  '(src/*.ts)': null,
  shim: ['streaming', 'mesos-compat', 'provisioner', 'cni', 'common'],
  streaming: ['common'],
  'mesos-compat': ['provisioner', 'cni', 'common'],
  provisioner: ['common'],
  cni: ['common'],
  common: [],
};
const ORDER = Object.keys(MAY);
const order = (l) => (ORDER.includes(l) ? ORDER.indexOf(l) : ORDER.length);
const layers = [...new Set(files.map(layer))].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
const allowed = (a, b) => a === b || !(a in MAY) || MAY[a] === null || MAY[a].includes(b);

// Layer-to-layer table: "runtime (+type-only)" file edges.
const count = new Map();
let total = 0;
let typeOnlyTotal = 0;
for (const [f, out] of edges) {
  for (const [t, typeOnly] of out) {
    const k = `${layer(f)}\t${layer(t)}`;
    const c = count.get(k) ?? { run: 0, type: 0 };
    if (typeOnly) { c.type++; typeOnlyTotal++; } else c.run++;
    count.set(k, c);
    total++;
  }
}
const w = Math.max(...layers.map((l) => l.length), 8);
const cell = (c) => (c ? (c.type ? `${c.run}+${c.type}t` : `${c.run}`) : '.');
console.log(`import edges, row imports column (N = runtime edges, +Mt = type-only edges)${withTests ? ', tests included' : ', tests excluded'}`);
console.log(['from \\ to'.padEnd(w), ...layers.map((l) => l.padStart(Math.max(l.length, 6)))].join('  '));
for (const a of layers) {
  console.log([a.padEnd(w), ...layers.map((b) => cell(count.get(`${a}\t${b}`)).padStart(Math.max(b.length, 6)))].join('  '));
}
const against = [];
for (const [k, c] of count) {
  const [a, b] = k.split('\t');
  if (!allowed(a, b)) against.push(`${a} -> ${b} (${cell(c)})`);
}
const unplaced = layers.filter((l) => !(l in MAY) && !l.endsWith('.ts'));
console.log(`\nfiles: ${files.length}, edges: ${total} (${typeOnlyTotal} type-only)`);
if (unplaced.length) console.log(`folders not placed in the layering: ${unplaced.join(', ')}`);
console.log(`edges against the layering: ${against.length ? against.join(', ') : 'none'}`);

function sccs(includeType) {
  let i = 0;
  const idx = new Map(), low = new Map(), st = [], on = new Set(), out = [];
  const next = (v) => [...edges.get(v)].filter(([, t]) => includeType || !t).map(([w]) => w);
  function sc(v) {
    idx.set(v, i); low.set(v, i); i++; st.push(v); on.add(v);
    for (const w of next(v)) {
      if (!idx.has(w)) { sc(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const c = [];
      let x;
      do { x = st.pop(); on.delete(x); c.push(x); } while (x !== v);
      if (c.length > 1) out.push(c.map((p) => relative(src, p)).sort());
    }
  }
  for (const f of files) if (!idx.has(f)) sc(f);
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}
for (const [label, inc] of [['cycles, all imports', true], ['cycles, runtime imports only', false]]) {
  const c = sccs(inc);
  console.log(`${label}: ${c.length ? '' : 'none'}`);
  for (const g of c) console.log(`  ${g.join(' <-> ')}`);
}
