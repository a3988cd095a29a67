// Structure rules only (issue 18): file size, layering and import cycles. No stylistic
// rule set: tsc (strict, noUnused*) already covers what a recommended set would add.
// `npm run lint`; scripts/test.sh runs it after tsc. src/lint.test.ts proves each rule bites.
//
// Layers (an import may only run down):
//   src/main.ts      wires everything; nothing imports it
//   src/shim         gRPC, CLI, streaming server; only main.ts imports it
//   src/mesos-compat the containerizer; may use provisioner, cni, common
//   src/provisioner  images and rootfses; common only
//   src/cni          pod networking; common only
//   src/common       leaf: imports nothing of src/
// Nothing in src/ imports e2e/ or bench/; gRPC (@grpc/*, cri/) only in src/shim and main.ts.
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';

const layer = (from, target, message) => ({ target, from, message });

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
            layer(['src/shim', 'src/mesos-compat', 'src/provisioner', 'src/cni', 'src/main.ts'], 'src/common', 'src/common is the bottom layer: it imports nothing of src/'),
            layer(['src/shim', 'src/mesos-compat', 'src/cni', 'src/main.ts'], 'src/provisioner', 'src/provisioner may import only src/common'),
            layer(['src/shim', 'src/mesos-compat', 'src/provisioner', 'src/main.ts'], 'src/cni', 'src/cni may import only src/common'),
            layer(['src/shim', 'src/main.ts'], 'src/mesos-compat', 'src/mesos-compat may import src/provisioner, src/cni and src/common, never src/shim'),
            layer(['src/main.ts'], 'src/shim', 'only src/main.ts imports src/shim'),
            layer(['e2e', 'bench', 'scripts'], 'src', 'src/ never imports tests, benchmarks or scripts'),
            layer(['cri'], ['src/common', 'src/provisioner', 'src/cni', 'src/mesos-compat'], 'gRPC types (cri/) stay in src/shim'),
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
