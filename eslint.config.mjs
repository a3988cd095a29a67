// Structure rules only (issue 18): file size, layering and import cycles. No stylistic
// rule set: tsc (strict, noUnused*) already covers what a recommended set would add.
// `npm run lint`; scripts/test.sh runs it after tsc. src/lint.test.ts proves each rule bites.
//
// Layers (an import may only run down):
//   src/main.ts      wires everything; nothing imports it
//   src/shim         gRPC, CLI; only main.ts imports it; may use every layer below
//   src/streaming    the streaming protocol server (SPDY/WebSocket) beside the shim, as
//                    kubelet's cri-streaming: common only (the runtime reaches it through
//                    the interface it declares); main.ts and the shim import it
//   src/mesos-compat the containerizer; may use provisioner, cni, common
//   src/provisioner  images and rootfses; common only
//   src/cni          pod networking; common only
//   src/common       leaf: imports nothing of src/
// Each zone forbids all of src/ except what the layer may use, so a new folder under src/
// is off limits to the layers below until it is placed here.
// Nothing in src/ imports e2e/, bench/ or scripts/; gRPC (@grpc/*, cri/) only in src/shim
// and main.ts.
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';

/** Files in `target` may import, of src/, only the folders `may` (relative to src/). */
const layer = (target, may, message) => ({ target, from: 'src', except: may.map((d) => `./${d}`), message });

export default tseslint.config(
  { ignores: ['cri/generated/**', 'dist/**', 'node_modules/**', 'native/**', '**/*.d.ts'] },
  {
    files: ['src/**/*.ts', 'e2e/**/*.ts', 'bench/**/*.ts', 'cri/*.ts', 'scripts/**/*.mjs', '*.mjs', '*.mts'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2023, sourceType: 'module' },
    // Existing `eslint-disable` comments name rules not enabled here (no-control-regex):
    // not an error. The typescript-eslint plugin is loaded so the rules they name exist.
    linterOptions: { reportUnusedDisableDirectives: 'off' },
    plugins: { 'import-x': importX, '@typescript-eslint': tseslint.plugin },
    settings: {
      // Without these import-x reads no .ts file it imports, and no-cycle finds nothing.
      'import-x/extensions': ['.ts', '.mts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.mts'] },
      'import-x/external-module-folders': ['node_modules', 'node_modules/@types'],
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.d.ts', '.js', '.mjs', '.json', '.node'] })],
    },
    rules: {
      // Every line counts (blank lines and comments too), tests included.
      'max-lines': ['error', { max: 400, skipBlankLines: false, skipComments: false }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      // Runtime imports only: import-x skips `import type` (erased at compile time);
      // src/lint.test.ts also fails on cycles made of type-only imports.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': [
        'error',
        {
          basePath: import.meta.dirname,
          zones: [
            layer('src/common', ['common'], 'src/common is the bottom layer: it imports nothing else of src/'),
            layer('src/provisioner', ['provisioner', 'common'], 'src/provisioner may import only src/common'),
            layer('src/cni', ['cni', 'common'], 'src/cni may import only src/common'),
            layer('src/mesos-compat', ['mesos-compat', 'provisioner', 'cni', 'common'], 'src/mesos-compat may import src/provisioner, src/cni and src/common, never src/shim'),
            layer('src/streaming', ['streaming', 'common'], 'src/streaming may import only src/common'),
            layer('src/shim', ['shim', 'streaming', 'mesos-compat', 'provisioner', 'cni', 'common'], 'src/shim may import the layers below it, not src/main.ts'),
            { target: 'src', from: ['e2e', 'bench', 'scripts'], message: 'src/ never imports tests, benchmarks or scripts' },
            { target: ['src/common', 'src/provisioner', 'src/cni', 'src/mesos-compat', 'src/streaming'], from: 'cri', message: 'gRPC types (cri/) stay in src/shim' },
          ],
        },
      ],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@grpc/*'], message: 'gRPC stays in src/shim (keep the gRPC layer thin)' }] },
      ],
    },
  },
  {
    // Where gRPC belongs.
    files: ['src/shim/**/*.ts', 'src/main.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
