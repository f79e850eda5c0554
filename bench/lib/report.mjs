// Rendering the results: the console table, results.md and chart.svg (hand-written SVG, no dependencies).
import { fmtInt, fmtRatio, fmtMiB } from './stats.mjs';

/** The text shown for a row's server or baseline figure. */
export function cell(row, side) {
  const text = row[`${side}Text`];
  if (text !== undefined) return text;
  const v = row[side];
  if (v === null || v === undefined) return '-';
  switch (row.unit) {
    case 'req/s':
      return fmtInt(v);
    case 'us/req':
      return `${v.toFixed(2)} us`;
    case 'bytes':
      return fmtMiB(v);
    case 'bytes/conn':
      return `${fmtInt(v)} B`;
    default:
      return String(v);
  }
}

export const verdict = (row) => (row.error ? 'ERROR' : row.pass === true ? 'PASS' : row.pass === false ? 'MISS' : '');

/** Fixed-width text table. */
/** One result row's cells, the same in the console table and the Markdown one. */
function rowCells(r) {
  return [r.item, r.case, cell(r, 'server'), cell(r, 'baseline'), fmtRatio(r.ratio), r.target ?? '', verdict(r)];
}

export function textTable(rows) {
  const head = ['item', 'case', 'server', 'baseline', 'ratio', 'target', ''];
  const body = rows.map(rowCells);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cols) =>
    cols
      .map((c, i) => (i >= 2 && i <= 4 ? String(c).padStart(w[i]) : String(c).padEnd(w[i])))
      .join('  ')
      .trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}

const md = (s) => String(s).replace(/\|/g, '\\|');

function mdTable(head, body) {
  return [
    `| ${head.map(md).join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...body.map((b) => `| ${b.map(md).join(' | ')} |`),
  ].join('\n');
}

/** The load generator line of results.md (results written before --load existed ran wrk and ab). */
function loadText(res) {
  const l = res.config.load;
  if (!l) return `Load generator: ${res.machine.wrk} with ${res.machine.ab}.`;
  return `Load generator: **${l.command}** (${l.why}).`;
}

export function markdown(res) {
  const m = res.machine;
  const load = res.config.load;
  const out = [];
  out.push('# tcp-prefork: npm run bench', '');
  out.push(
    `${m.date} · ${m.cpus} CPUs (${m.cpuModel}) · Node ${m.node} · load average ${m.loadavgStart.join(' ')} at start, ${m.loadavgEnd?.join(' ') ?? '-'} at end`,
    '',
  );
  out.push(
    `${loadText(res)} Ratios (server / baseline, both measured with the same generator in the same run) are comparable ` +
      'across load generators; absolute req/s figures are not: autocannon, a Node.js client, saturates sooner than wrk, ' +
      'so with it the absolute figures mostly measure the client, and where it saturates the ratio is pulled toward 1.0 ' +
      '(the targets were set with wrk and ab).',
    '',
  );
  if (m.warning) out.push(`> Warning: ${m.warning}.`, '');
  for (const w of load?.warnings ?? []) out.push(`> Warning: ${w}.`, '');
  out.push(
    `Medians of ${res.config.rounds} alternating rounds of ${res.config.duration} s per side${res.config.quick ? ' (--quick)' : ''}. ` +
      'ratio = server / baseline (for CPU and memory rows lower is better; for req/s higher is better). ' +
      (load?.pinned === false
        ? 'Items 1 and 7 ran unpinned (no taskset).'
        : "Pinned runs (item 1, 7) with the server's CPU more than 25% busy outside the server are run again."),
    '',
  );
  out.push(mdTable(['item', 'case', 'server', 'baseline', 'ratio', 'target', 'result'], res.rows.map(rowCells)), '');
  const d = res.items['3'];
  if (d?.note) out.push('## Connection distribution (item 3)', '', d.note, '');
  if (d?.modes) {
    out.push('## Connection distribution (item 3)', '');
    out.push(`${d.connections} connections to a 2-worker server; ${d.method}. Median round shown.`, '');
    out.push(
      mdTable(
        [
          'server',
          'serving per worker',
          'busiest/idlest',
          'all rounds',
          'fds held per worker',
          'held by master',
          'fds left open after close (master; workers)',
        ],
        Object.entries(d.modes).map(([k, v]) => [
          k,
          v.counts?.join(' / ') ?? '-',
          fmtRatio(v.ratio),
          v.ratios?.map(fmtRatio).join(', ') ?? '-',
          v.held?.join(' / ') ?? '-',
          v.master_held ?? '-',
          v.leaked_fds ? `${v.leaked_fds.master}; ${v.leaked_fds.workers.join(' / ')}` : '-',
        ]),
      ),
      '',
    );
  }
  const c = res.items['6'];
  out.push('## WASM against JS framing (item 6, bench/core.mjs)', '');
  if (c?.rows?.length) {
    out.push(
      mdTable(
        ['case', 'chunk', 'frame', 'wasm MB/s', 'js MB/s', 'wasm/js', 'target', 'result'],
        c.rows.map((r) => [
          r.case,
          r.chunk,
          r.frame,
          r.wasm_ns_per_call !== undefined ? `${r.wasm_ns_per_call} ns/call` : r.wasm_mbps,
          r.js_ns_per_call !== undefined ? `${r.js_ns_per_call} ns/call` : r.js_mbps,
          fmtRatio(r.ratio),
          typeof r.target === 'number' ? `wasm/js >= ${r.target}` : (r.target ?? ''),
          r.pass === true ? 'PASS' : r.pass === false ? 'MISS' : '',
        ]),
      ),
      '',
    );
  } else {
    out.push(c?.note ?? 'not run', '');
  }
  const t = res.items['7'];
  out.push('## TLS (item 7)', '', t?.note ?? 'not run', '');
  if (res.errors?.length)
    out.push('## Errors', '', ...res.errors.map((e) => `- item ${e.item}: ${md(e.message.split('\n')[0])}`), '');
  out.push(
    'Command: `npm run bench' +
      (res.config.argv.length ? ` -- ${res.config.argv.join(' ')}` : '') +
      '`. Raw samples are in results.json.',
    '',
  );
  return out.join('\n');
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Bar chart: req/s per case, server against baseline (bars scaled per row), with the ratio; then WASM/JS framing ratios. */
export function svgChart(res) {
  const rps = res.rows.filter((r) => r.unit === 'req/s' && r.server !== null && r.baseline !== null);
  const core = (res.items['6']?.rows ?? []).filter((r) => r.variant === 'messages' && Number.isFinite(r.ratio));
  const W = 960,
    LABEL = 300,
    BAR = 420,
    ROWH = 34;
  const parts = [];
  let y = 20;
  const text = (x, yy, s, attrs = '') => parts.push(`<text x="${x}" y="${yy}" ${attrs}>${esc(s)}</text>`);
  text(
    10,
    y + 4,
    'npm run bench: requests/s, tcp-prefork (blue) or a reference server (orange) against the bare baseline (grey); bars scaled per row',
    'font-weight="bold"',
  );
  y += 14;
  text(
    10,
    y + 6,
    `${res.machine.date} · ${res.machine.cpus} CPUs · Node ${res.machine.node} · medians of ${res.config.rounds} rounds of ${res.config.duration} s` +
      ` · load: ${res.config.load?.command ?? `${res.machine.wrk}, ${res.machine.ab}`} (compare ratios, not req/s, across generators)`,
    'font-size="11" fill="#555"',
  );
  y += 18;
  const colour = (r) => (r.pass === true ? '#1a7f37' : r.pass === false ? '#cf222e' : '#333');
  for (const r of rps) {
    const max = Math.max(r.server, r.baseline) || 1;
    const ws = (r.server / max) * BAR,
      wb = (r.baseline / max) * BAR;
    // A reference row's label names the server first: its case is the row above's.
    const label = r.reference ? `${r.item} ${r.reference} (reference)` : `${r.item} ${r.case}`;
    text(10, y + 16, label.length > 44 ? `${label.slice(0, 43)}…` : label, 'font-size="12"');
    parts.push(
      `<rect x="${LABEL}" y="${y + 3}" width="${ws.toFixed(1)}" height="12" fill="${r.reference ? '#e8912d' : '#3b78c4'}"/>`,
    );
    parts.push(`<rect x="${LABEL}" y="${y + 17}" width="${wb.toFixed(1)}" height="12" fill="#a0a0a0"/>`);
    text(LABEL + ws + 4, y + 13, fmtInt(r.server), 'font-size="10"');
    text(LABEL + wb + 4, y + 27, fmtInt(r.baseline), 'font-size="10" fill="#555"');
    text(
      LABEL + BAR + 80,
      y + 21,
      `×${fmtRatio(r.ratio)}${r.target ? ` (${r.target})` : ''}`,
      `font-size="12" font-weight="bold" fill="${colour(r)}"`,
    );
    y += ROWH;
  }
  if (rps.length === 0) {
    text(10, y + 14, 'no requests/s figures in this run', 'font-size="12"');
    y += ROWH;
  }
  y += 16;
  text(
    10,
    y + 4,
    'WASM against JS framing (bench/core.mjs): speed ratio wasm/js, messages variant; dashed line = 1.0',
    'font-weight="bold"',
  );
  y += 16;
  if (core.length) {
    const maxR = Math.max(1.5, ...core.map((r) => r.ratio));
    const x1 = LABEL + (1 / maxR) * BAR;
    const top = y;
    for (const r of core) {
      const w = (r.ratio / maxR) * BAR;
      const c = r.pass === true ? '#1a7f37' : r.pass === false ? '#cf222e' : '#6f42c1';
      text(10, y + 14, `${r.case} (chunk ${r.chunk})`, 'font-size="12"');
      parts.push(`<rect x="${LABEL}" y="${y + 3}" width="${w.toFixed(1)}" height="14" fill="${c}" fill-opacity="0.75"/>`);
      text(
        LABEL + w + 4,
        y + 14,
        `×${fmtRatio(r.ratio)}${typeof r.target === 'number' ? ` (≥${r.target})` : ''}`,
        'font-size="11"',
      );
      y += 22;
    }
    parts.push(`<line x1="${x1.toFixed(1)}" y1="${top}" x2="${x1.toFixed(1)}" y2="${y}" stroke="#000" stroke-dasharray="4 3"/>`);
  } else {
    text(10, y + 14, res.items['6']?.note ?? 'not available', 'font-size="12"');
    y += 22;
  }
  y += 10;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif" font-size="13">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
  );
}
