// Bundles the extension into one CommonJS file, dist/extension.js (vscode stays external: the
// editor provides it), and the flow panel's page script, with its graph-layout library (dagre),
// into dist/flowPanel.js for the webview. `--watch` rebuilds on change; `--production` minifies.
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
};

const builds = [
  {
    ...common,
    entryPoints: ['extension/extension.ts'],
    outfile: 'dist/extension.js',
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: ['vscode'],
  },
  {
    ...common,
    entryPoints: ['extension/flowPanel/webview.ts'],
    outfile: 'dist/flowPanel.js',
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    // no source map in the webview: its CSP allows no fetch of one, and it would ship in the .vsix
    sourcemap: false,
  },
];

if (watch) {
  for (const options of builds) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
  }
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
