// fleetctl's tables are Go's text/tabwriter with fleet's settings (minwidth 0, tabwidth 8, padding 1,
// padchar '\t'): every cell but the last of a line is a column, as wide as its widest cell plus one,
// rounded up to a multiple of 8, and filled with tabs. Reproduced exactly so that the output matches
// CoreOS fleetctl byte for byte (scripts cut these columns with `cut -f` or `awk`).

const TAB_WIDTH = 8;
const PADDING = 1;

/** Width of a cell as tabwriter counts it: runes, not UTF-16 code units. */
function width(s: string): number {
  return [...s].length;
}

/** The lines of `rows` (each a list of cells) as fleetctl prints them, each ending in a newline. */
export function tabwrite(rows: string[][]): string {
  const columns = Math.max(0, ...rows.map((r) => r.length - 1));
  const widths: number[] = [];
  for (let c = 0; c < columns; c++) {
    widths.push(Math.max(0, ...rows.filter((r) => r.length - 1 > c).map((r) => width(r[c]!) + PADDING)));
  }
  let out = '';
  for (const row of rows) {
    row.forEach((cell, c) => {
      out += cell;
      if (c === row.length - 1) return;
      const cellWidth = Math.ceil(widths[c]! / TAB_WIDTH) * TAB_WIDTH;
      out += '\t'.repeat(Math.ceil((cellWidth - width(cell)) / TAB_WIDTH));
    });
    out += '\n';
  }
  return out;
}
