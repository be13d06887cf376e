// Tables as etcdctl draws them (olekukonko/tablewriter with right-aligned cells): borders of
// `+---+`, headers in capitals centred (the odd space on the right), one space of padding.

function width(s: string): number {
  return [...s].length;
}

export function renderTable(header: string[], rows: string[][]): string {
  const heads = header.map((h) => h.toUpperCase());
  const widths = heads.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+\n`;
  const centre = (s: string, w: number) => {
    const pad = w - width(s);
    const left = Math.floor(pad / 2);
    return ' '.repeat(left) + s + ' '.repeat(pad - left);
  };
  const right = (s: string, w: number) => ' '.repeat(w - width(s)) + s;
  let out = line;
  out += `|${heads.map((h, i) => ` ${centre(h, widths[i]!)} `).join('|')}|\n`;
  out += line;
  for (const r of rows) out += `|${widths.map((w, i) => ` ${right(r[i] ?? '', w)} `).join('|')}|\n`;
  out += line;
  return out;
}
