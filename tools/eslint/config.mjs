// ESLint's flat config for the extension (extension/**/*.ts), loaded by the repository's
// eslint.config.mjs. It lives here, beside its own package.json (an npm workspace), because
// typescript-eslint needs the TypeScript compiler API of typescript <6.1: the extension is
// type-checked by typescript 7 (the native compiler, no JS API), so this workspace holds
// typescript 6 for the linter alone. Imports resolve from tools/eslint/node_modules.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'tools/**', 'media/**', 'tests/**', '.venv/**'] },
  {
    files: ['extension/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    rules: {
      // tsc (noUnusedLocals/noUnusedParameters) reports these already.
      '@typescript-eslint/no-unused-vars': 'off',
      // VS Code's APIs take methods that return a Promise (a webview serializer's
      // deserializeWebviewPanel, a panel's show): `async` keeps their contract without an await.
      '@typescript-eslint/require-await': 'off',
    },
  },
);
