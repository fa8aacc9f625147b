// `npm run build`, after tsc: the CLI as users run it, in two CommonJS files under dist/.
//   strata-bundle.cjs  src/cli/main.ts and every module it reaches, in one file: loading ~280
//                      ESM modules one by one cost ~90 ms of a no-op build.
//   strata.cjs         the bin: runs the bundle through a V8 code cache (src/cli/code-cache.ts).
// CommonJS because vm.Script's code cache works on scripts only, and a CJS file starts faster.
// npm packages stay outside (zstd-napi has a native module); they load from node_modules.

import { readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  // import() of a command's module stays lazy (esbuild wraps its body in an init function);
  // import() of a package becomes require(), since vm.Script has no loader for import().
  supported: { 'dynamic-import': false },
  // Modules find the native addon and package.json from their own URL: the bundle's file.
  define: { 'import.meta.url': '__strataModuleUrl' },
  // "use strict" first: esbuild's own comes after the banner, where it is no directive.
  banner: {
    js: '"use strict";\nconst __strataModuleUrl = require("node:url").pathToFileURL(__filename).href;',
  },
  logLevel: 'warning',
};

/** esbuild escapes non-ASCII characters in strings but leaves them in comments and regular
 * expression literals, where \uXXXX means the same. An ASCII bundle is read as latin1, ~2 ms faster
 * than UTF-8 at every start. After a backslash the escape would change meaning: then the file stays
 * UTF-8 (and is read as such). */
function toAscii(file) {
  const text = readFileSync(file, 'utf8');
  if (/\\[^\x00-\x7f]/.test(text)) {
    console.warn(`${file}: a backslash before a non-ASCII character; left UTF-8 (slower start-up)`);
    return;
  }
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) writeFileSync(file, ascii);
}

await build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/strata-bundle.cjs' });
toAscii('dist/strata-bundle.cjs');
await build({ ...common, entryPoints: ['src/cli/launcher.ts'], outfile: 'dist/strata.cjs' });
