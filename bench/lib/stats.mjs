// Small numeric helpers for the bench.
export const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const round = (x, d = 0) => (x === null || x === undefined || !Number.isFinite(x) ? x : Math.round(x * 10 ** d) / 10 ** d);

export const ratio = (a, b) => (a === null || b === null || a === undefined || b === undefined || b === 0 ? null : a / b);

/** 41234.5 -> "41,235"; 1234567 -> "1,234,567". */
export const fmtInt = (x) => (x === null || x === undefined ? '-' : Math.round(x).toLocaleString('en-US'));

export const fmtMiB = (b) => (b === null || b === undefined ? '-' : `${(b / 1048576).toFixed(1)} MiB`);

export const fmtRatio = (r) => (r === null || r === undefined ? '-' : Number.isFinite(r) ? r.toFixed(2) : 'inf');
