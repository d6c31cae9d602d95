// Bundles the web UI into OUT_DIR (default dist/): index.html, dashboard.html and models.html,
// assets/app.js, assets/dashboard.js, assets/models.js (it uses the dashboard's stylesheet) and
// their stylesheets,
// assets/app-style.css, assets/icon.svg and assets/licenses.txt (the bundled libraries' licenses). The libraries come from node_modules (package-lock.json pins them); nothing
// is fetched at run time. CMake runs this, then scripts/embed-web.py embeds OUT_DIR in hearth.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, 'dist'));
mkdirSync(join(out, 'assets'), { recursive: true });

await build({
  entryPoints: {
    app: join(here, 'src/main.js'),
    'app-style': join(here, 'src/app.css'),
    dashboard: join(here, 'src/dashboard.js'),
    'dashboard-style': join(here, 'src/dashboard.css'),
    models: join(here, 'src/models.js'),
  },
  outdir: join(out, 'assets'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'none', // the full texts are in licenses.txt
  logLevel: 'warning',
});
copyFileSync(join(here, 'src/index.html'), join(out, 'index.html'));
copyFileSync(join(here, 'src/dashboard.html'), join(out, 'dashboard.html'));
copyFileSync(join(here, 'src/models.html'), join(out, 'models.html'));
copyFileSync(join(here, 'src/icon.svg'), join(out, 'assets/icon.svg'));

// The libraries bundled into app.js and app-style.css, with their license texts (web/THIRD_PARTY.md).
const bundled = [
  ['marked', ['LICENSE']],
  ['dompurify', ['LICENSE']],
  ['highlight.js', ['LICENSE']],
  ['uplot', ['LICENSE']],
  ['oauth4webapi', ['LICENSE.md']],
];
const licenses = bundled.map(([name, files]) => {
  const pkg = JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8'));
  const texts = files.map((f) => readFileSync(join(here, 'node_modules', name, f), 'utf8').trim());
  return `${name} ${pkg.version} (${pkg.license})\n${'='.repeat(60)}\n\n${texts.join('\n\n')}\n`;
});
writeFileSync(join(out, 'assets/licenses.txt'),
  `Libraries bundled into hearth's web UI, and their licenses.\n\n${licenses.join('\n\n')}`);
