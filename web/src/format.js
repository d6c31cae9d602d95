// Numbers as the pages show them.

// Bytes in MiB, or GiB from 1 GiB on; '-' when unknown.
export function bytes(n) {
  if (n === null || n === undefined) return '-';
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

// A count with thousands separators; '-' when unknown.
export function count(n) {
  return n === undefined || n === null ? '-' : Math.round(n).toLocaleString('en-US');
}

// The catalog's approximate sizes, in the decimal GB it states them in.
export function approxGB(n) {
  return `~${Number((n / 1e9).toFixed(2))} GB`;
}
