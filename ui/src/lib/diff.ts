/** Reads the API's unified diff into lines for the unified and side-by-side views. */

export type LineKind = "context" | "add" | "del" | "hunk" | "meta";

export interface DiffLine {
  kind: LineKind;
  text: string;
  oldNo: number | null;
  newNo: number | null;
}

export function parseUnified(diff: string): DiffLine[] {
  const lines: DiffLine[] = [];
  let oldNo = 0;
  let newNo = 0;
  for (const raw of diff.split("\n")) {
    if (raw === "" ) continue;
    if (raw.startsWith("--- ") || raw.startsWith("+++ ")) {
      lines.push({ kind: "meta", text: raw, oldNo: null, newNo: null });
    } else if (raw.startsWith("@@")) {
      const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(raw);
      oldNo = m ? Number(m[1]) : 0;
      newNo = m ? Number(m[2]) : 0;
      lines.push({ kind: "hunk", text: raw, oldNo: null, newNo: null });
    } else if (raw.startsWith("\\")) {
      // "\ No newline at end of file": not a line of either version.
      continue;
    } else if (raw.startsWith("+")) {
      lines.push({ kind: "add", text: raw.slice(1), oldNo: null, newNo: newNo++ });
    } else if (raw.startsWith("-")) {
      lines.push({ kind: "del", text: raw.slice(1), oldNo: oldNo++, newNo: null });
    } else {
      lines.push({ kind: "context", text: raw.startsWith(" ") ? raw.slice(1) : raw, oldNo: oldNo++, newNo: newNo++ });
    }
  }
  return lines;
}

export interface SideRow {
  left: DiffLine | null;
  right: DiffLine | null;
  hunk?: string;
}

/** Pairs deletions with the additions that follow them, so changed lines sit side by side. */
export function sideBySide(lines: DiffLine[]): SideRow[] {
  const rows: SideRow[] = [];
  let dels: DiffLine[] = [];
  let adds: DiffLine[] = [];
  const flush = () => {
    const n = Math.max(dels.length, adds.length);
    for (let i = 0; i < n; i++) rows.push({ left: dels[i] ?? null, right: adds[i] ?? null });
    dels = [];
    adds = [];
  };
  for (const line of lines) {
    if (line.kind === "del") {
      if (adds.length) flush();
      dels.push(line);
    } else if (line.kind === "add") {
      adds.push(line);
    } else {
      flush();
      if (line.kind === "hunk") rows.push({ left: null, right: null, hunk: line.text });
      else if (line.kind === "context") rows.push({ left: line, right: line });
    }
  }
  flush();
  return rows;
}
