/** Display formatting shared by every page. Pure functions, unit-tested. */

const missing = "–";

/** Accepts RFC 3339 strings and epoch milliseconds (older servers). */
export function toDate(value: string | number | null | undefined): Date | null {
  if (value === null || value === undefined || value === "") return null;
  const date = typeof value === "number" ? new Date(value) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** `2026-12-07 23:25:18` in UTC: unambiguous and sortable. */
export function formatTime(value: string | number | null | undefined): string {
  const date = toDate(value);
  if (!date) return missing;
  return date.toISOString().replace("T", " ").slice(0, 19);
}

/** "just now", "5 min ago", "3 h ago", "2 d ago"; the exact time beyond a month. */
export function formatRelative(value: string | number | null | undefined, now: number = Date.now()): string {
  const date = toDate(value);
  if (!date) return missing;
  const seconds = Math.round((now - date.getTime()) / 1000);
  if (seconds < 0) return formatTime(value);
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days <= 30) return `${days} d ago`;
  return formatTime(value);
}

/** Milliseconds: `850 ms`, `1.25 s`, `2 min 5 s`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return missing;
  if (ms === 0) return "0 ms";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1).replace(/\.0$/, "")} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes} min ${seconds} s`;
}

/** US dollars with enough digits for per-call LLM costs: `$0.000042`, `$1.23`. */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return missing;
  if (usd === 0) return "$0";
  const abs = Math.abs(usd);
  if (abs >= 100) return `$${usd.toFixed(0)}`;
  if (abs >= 1) return `$${usd.toFixed(2)}`;
  if (abs >= 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toPrecision(2).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "")}`;
}

/** Integers with thousands separators; `12.3k`, `4.5M` in compact mode. */
export function formatCount(n: number | null | undefined, compact = false): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return missing;
  if (compact && Math.abs(n) >= 1000) {
    const units = [
      [1e9, "B"],
      [1e6, "M"],
      [1e3, "k"],
    ] as const;
    for (const [size, suffix] of units) {
      if (Math.abs(n) >= size) {
        const scaled = n / size;
        return `${scaled >= 100 ? scaled.toFixed(0) : scaled.toFixed(1).replace(/\.0$/, "")}${suffix}`;
      }
    }
  }
  return Math.round(n).toLocaleString("en-US");
}

/** A ratio in [0, 1] as a percentage: `99.5%`, `100%`. */
export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return missing;
  const pct = ratio * 100;
  if (pct === 100 || pct === 0) return `${pct}%`;
  return `${pct.toFixed(pct >= 99 || pct < 1 ? 2 : 1).replace(/\.?0+$/, "")}%`;
}

/** The first characters of a hash or id. */
export function short(id: string | null | undefined, length = 8): string {
  if (!id) return missing;
  return id.length > length ? id.slice(0, length) : id;
}

/** The variables a Jinja template reads at the top level, in order of first use. */
export function templateVariables(template: string): string[] {
  const found: string[] = [];
  const bound = new Set<string>();
  const keywords = new Set(["true", "false", "none", "and", "or", "not", "in", "is", "if", "else", "loop", "range"]);
  const blocks = template.matchAll(/\{\{([\s\S]*?)\}\}|\{%([\s\S]*?)%\}/g);
  for (const match of blocks) {
    const expression = match[1] ?? match[2] ?? "";
    if (match[2] !== undefined) {
      const loop = /^\s*for\s+([\w\s,]+?)\s+in\s/.exec(expression);
      if (loop?.[1]) for (const name of loop[1].split(",")) bound.add(name.trim());
      const set = /^\s*set\s+(\w+)/.exec(expression);
      if (set?.[1]) bound.add(set[1]);
    }
    const cleaned = expression
      .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, "")
      .replace(/\|\s*\w+/g, "")
      .replace(/\bis\s+(not\s+)?\w+/g, "");
    for (const ident of cleaned.matchAll(/(?<![\w.|])([A-Za-z_]\w*)/g)) {
      const name = ident[1]!;
      const after = cleaned.slice((ident.index ?? 0) + name.length);
      if (keywords.has(name.toLowerCase()) || bound.has(name) || /^\s*\(/.test(after) || /^\s*=(?!=)/.test(after)) continue;
      if (/^(for|set|endfor|endif|elif|endset|block|endblock|macro|endmacro|with|endwith)$/.test(name)) continue;
      if (!found.includes(name)) found.push(name);
    }
  }
  return found;
}
