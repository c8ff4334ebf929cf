import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../shared/cursor.ts";
import { csvCell, csvColumns, csvHeader } from "../../shared/export.ts";

describe("CSV cells (RFC 4180 and the formula guard)", () => {
  it("quotes what needs quoting and doubles quotes", () => {
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell('a "b"')).toBe('"a ""b"""');
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell("a\nb")).toBe('"a\nb"');
    expect(csvCell("a\r\nb")).toBe('"a\r\nb"');
    expect(csvCell(null)).toBe("");
    expect(csvCell(undefined)).toBe("");
    expect(csvCell(42)).toBe("42");
  });

  it("prefixes a cell starting with = + - @ tab or CR with a single quote", () => {
    expect(csvCell("=1+1")).toBe("'=1+1");
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-1")).toBe("'-1");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvCell("\tx")).toBe("'\tx");
    expect(csvCell("\rx")).toBe("\"'\rx\"");
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
    expect(csvCell("a=b")).toBe("a=b");
  });

  it("has a fixed header row", () => {
    expect(csvHeader()).toBe(csvColumns.map(([name]) => name).join(",") + "\r\n");
    expect(csvColumns).toHaveLength(24);
    expect(csvColumns.slice(-3).map(([name]) => name)).toEqual(["tags", "metadata", "retryOf"]);
  });

  it("writes tags joined by ;, metadata as JSON and retryOf as the id (empty when none)", () => {
    const cells = (e: Record<string, unknown>) =>
      Object.fromEntries(csvColumns.filter(([name]) => ["tags", "metadata", "retryOf"].includes(name)).map(([name, read]) => [name, read(e as never)]));
    const original = randomUUID();
    expect(cells({ tags: ["billing", "nightly"], metadata: { team: "a,b", n: 1 }, retryOf: original }))
      .toEqual({ tags: "billing;nightly", metadata: '{"team":"a,b","n":1}', retryOf: original });
    expect(cells({ tags: [], metadata: {}, retryOf: null })).toEqual({ tags: "", metadata: "{}", retryOf: null });
    expect(csvCell('{"team":"a,b"}')).toBe('"{""team"":""a,b""}"');
  });
});

describe("cursors are bound to their order", () => {
  const position = { startedAt: "2026-11-25T20:52:36.123456Z", id: randomUUID() };
  it("an asc cursor decodes only as asc, a desc one only as desc (the default, as before)", () => {
    expect(decodeCursor(encodeCursor(position, "asc"), "asc")).toEqual(position);
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
    expect(encodeCursor(position, "desc")).toBe(encodeCursor(position));
    expect(() => decodeCursor(encodeCursor(position, "asc"))).toThrow(/invalid cursor/);
    expect(() => decodeCursor(encodeCursor(position), "asc")).toThrow(/invalid cursor/);
    const other = Buffer.from(JSON.stringify([position.startedAt, position.id, "sideways"])).toString("base64url");
    expect(() => decodeCursor(other, "asc")).toThrow(/invalid cursor/);
  });
});
