// Biome over assembly/, the AssemblyScript core. Biome cannot parse
// AssemblyScript's decorators on functions (`@inline`: TypeScript has
// decorators on classes only, and Biome refuses the rest as a syntax error,
// which no option or override turns off). So this runs `biome ci` on a copy of
// assembly/ in which each `@inline` is the comment `/*inl*/`, of the same
// length: every diagnostic's line and column are the real file's. The copy is
// checked with the project's biome.json (its assembly/** override included).
// With --write, Biome's safe fixes and formatting are applied to the copy and
// written back, the comments turned back into decorators.
//
//   node scripts/biome-assembly.mjs            # check, as `npm run lint` does
//   node scripts/biome-assembly.mjs --write    # fix and format, as `npm run format` does
//   (other arguments go to Biome, e.g. --max-diagnostics=200)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DECORATOR = /@inline\b/g;
const MASK = '/*inl*/'; // as long as '@inline'
const UNMASK = /\/\*inl\*\//g;

const root = fileURLToPath(new URL('..', import.meta.url));
const write = process.argv.includes('--write');
const files = readdirSync(join(root, 'assembly')).filter((f) => f.endsWith('.ts'));

const tmp = mkdtempSync(join(tmpdir(), 'tcp-prefork-biome-'));
let status = 1;
try {
  const config = JSON.parse(readFileSync(join(root, 'biome.json'), 'utf8'));
  delete config.$schema; // a path relative to the project
  config.files = { includes: ['assembly/**'] };
  writeFileSync(join(tmp, 'biome.json'), JSON.stringify(config, null, 2));
  mkdirSync(join(tmp, 'assembly'));
  const sources = new Map();
  for (const f of files) {
    const text = readFileSync(join(root, 'assembly', f), 'utf8');
    if (text.includes(MASK))
      throw new Error(`assembly/${f} already holds ${MASK}, which this script uses as a stand-in for @inline`);
    sources.set(f, text);
    writeFileSync(join(tmp, 'assembly', f), text.replace(DECORATOR, MASK));
  }
  const biome = join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');
  const extra = process.argv.slice(2).filter((a) => a !== '--write'); // e.g. --max-diagnostics=100
  const args = [...(write ? ['check', '--write'] : ['ci']), ...extra, 'assembly'];
  const run = spawnSync(process.execPath, [biome, ...args], { cwd: tmp, stdio: 'inherit' });
  status = run.status ?? 1;
  if (write) {
    for (const [f, before] of sources) {
      const after = readFileSync(join(tmp, 'assembly', f), 'utf8').replace(UNMASK, '@inline');
      if (after !== before) writeFileSync(join(root, 'assembly', f), after);
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
