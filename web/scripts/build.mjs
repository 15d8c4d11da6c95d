// web/scripts/build.mjs: bundles the browser client with esbuild. `node scripts/build.mjs` builds
// dist/ (the library, and the demo page and the audio worklet where their sources exist);
// `node scripts/build.mjs --tests` bundles test/*.test.ts into dist-test/ for `node --test`.
// Exits non-zero on any build error.
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (path) => join(web, path);

/** Bundles `src/<from>` to `dist/<to>` for the browser, if the source exists. */
function browser(from, to) {
  if (!existsSync(at(`src/${from}`))) return [];
  return [
    esbuild.build({
      entryPoints: [at(`src/${from}`)],
      outfile: at(`dist/${to}`),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      sourcemap: true,
      logLevel: 'warning',
    }),
  ];
}

function tests() {
  const entries = readdirSync(at('test'))
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => at(`test/${name}`));
  rmSync(at('dist-test'), { recursive: true, force: true });
  return [
    esbuild.build({
      entryPoints: entries,
      outdir: at('dist-test'),
      outExtension: { '.js': '.mjs' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node18',
      logLevel: 'warning',
    }),
  ];
}

function dist() {
  const builds = [
    ...browser('index.ts', 'livestage.js'),
    ...browser('demo/main.ts', 'demo.js'),
    ...browser('audio-worklet.ts', 'audio-worklet.js'),
  ];
  if (existsSync(at('src/demo/index.html'))) {
    mkdirSync(at('dist'), { recursive: true });
    copyFileSync(at('src/demo/index.html'), at('dist/index.html'));
  }
  return builds;
}

try {
  await Promise.all(process.argv.includes('--tests') ? tests() : dist());
} catch {
  // esbuild has printed the errors.
  process.exit(1);
}
