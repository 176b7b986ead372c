import { describe, expect, it } from "vitest";
import {
  formatCost,
  formatCount,
  formatDuration,
  formatPercent,
  formatRelative,
  formatTime,
  templateVariables,
  toDate,
} from "./format";

describe("time", () => {
  it("reads RFC 3339 and epoch milliseconds alike", () => {
    expect(toDate("2026-12-07T23:25:18.123Z")?.getTime()).toBe(Date.UTC(2026, 11, 7, 23, 25, 18, 123));
    expect(toDate(1796686321840)?.toISOString()).toBe("2026-12-07T23:32:01.840Z");
    expect(toDate("not a time")).toBeNull();
    expect(formatTime(null)).toBe("–");
  });
  it("formats UTC times and relative ages", () => {
    expect(formatTime("2026-12-07T23:25:18.123456Z")).toBe("2026-12-07 23:25:18");
    const now = Date.UTC(2026, 11, 7, 12, 0, 0);
    expect(formatRelative(now - 10_000, now)).toBe("just now");
    expect(formatRelative(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(formatRelative(now - 3 * 3_600_000, now)).toBe("3 h ago");
    expect(formatRelative(now - 2 * 86_400_000, now)).toBe("2 d ago");
    expect(formatRelative(now - 90 * 86_400_000, now)).toBe("2026-09-08 12:00:00");
  });
});

describe("numbers", () => {
  it("formats durations", () => {
    expect(formatDuration(0.5)).toBe("0.50 ms");
    expect(formatDuration(1.5)).toBe("1.5 ms");
    expect(formatDuration(2)).toBe("2 ms");
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(1250)).toBe("1.25 s");
    expect(formatDuration(12_500)).toBe("12.5 s");
    expect(formatDuration(125_000)).toBe("2 min 5 s");
    expect(formatDuration(null)).toBe("–");
  });
  it("formats costs down to fractions of a cent", () => {
    expect(formatCost(0)).toBe("$0");
    expect(formatCost(0.000042)).toBe("$0.000042");
    expect(formatCost(0.0000425)).toBe("$0.000043");
    expect(formatCost(0.0123)).toBe("$0.0123");
    expect(formatCost(1.234)).toBe("$1.23");
    expect(formatCost(1234.5)).toBe("$1235");
    expect(formatCost(null)).toBe("–");
  });
  it("formats counts and percentages", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(12_345, true)).toBe("12.3k");
    expect(formatCount(4_000_000, true)).toBe("4M");
    expect(formatCount(999, true)).toBe("999");
    expect(formatPercent(1)).toBe("100%");
    expect(formatPercent(0.995)).toBe("99.5%");
    expect(formatPercent(0.5)).toBe("50%");
    expect(formatPercent(0.12345)).toBe("12.3%");
    expect(formatPercent(0)).toBe("0%");
    expect(formatPercent(null)).toBe("–");
  });
});

describe("templateVariables", () => {
  it("lists top-level names in order, once", () => {
    expect(templateVariables("Hello {{ name }}, about {{ topic | upper }} and {{ name }}")).toEqual(["name", "topic"]);
  });
  it("skips loop variables, literals, filters and function calls", () => {
    const template = "{% for item in items %}{{ item.title }} {{ loop.index }}{% endfor %}{{ 'x' }}{{ range(3) }}{% if flag %}y{% endif %}";
    expect(templateVariables(template)).toEqual(["items", "flag"]);
  });
  it("reads attribute roots and ignores set targets", () => {
    expect(templateVariables("{% set greeting = 'hi' %}{{ greeting }} {{ user.name }}")).toEqual(["user"]);
  });
});
