import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../shared/cursor.ts";
import { ValidationError } from "../../shared/errors.ts";

describe("keyset cursor", () => {
  it("round-trips (started_at with microseconds, id)", () => {
    for (let i = 0; i < 200; i++) {
      const position = {
        startedAt: new Date(Date.UTC(2020, 0, 1) + Math.floor(Math.random() * 1e11)).toISOString().replace("Z", `${String(i % 1000).padStart(3, "0")}Z`),
        id: randomUUID(),
      };
      const cursor = encodeCursor(position);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/); // URL-safe, no padding
      expect(decodeCursor(cursor)).toEqual(position);
    }
  });

  it("keeps an uppercase UUID as given", () => {
    const position = { startedAt: "2026-11-25T20:52:36.123456Z", id: randomUUID().toUpperCase() };
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
  });

  const garbage: [string, string][] = [
    ["empty", ""],
    ["not base64", "%%%"],
    ["base64 of non-JSON", Buffer.from("hello").toString("base64url")],
    ["JSON object", Buffer.from('{"startedAt":"2026-11-25T20:52:36.123456Z","id":"x"}').toString("base64url")],
    ["one element", Buffer.from('["2026-11-25T20:52:36.123456Z"]').toString("base64url")],
    ["millisecond timestamp", Buffer.from(`["2026-11-25T20:52:36.123Z","${randomUUID()}"]`).toString("base64url")],
    ["timestamp with offset", Buffer.from(`["2026-11-25T20:52:36.123456+01:00","${randomUUID()}"]`).toString("base64url")],
    ["not a uuid", Buffer.from('["2026-11-25T20:52:36.123456Z","1; drop table x"]').toString("base64url")],
    ["numbers", Buffer.from("[1,2]").toString("base64url")],
    ["null", Buffer.from("null").toString("base64url")],
    ["SQL", "' or 1=1 --"],
  ];
  it.each(garbage)("rejects garbage (%s) as a ValidationError on field cursor", (_name, cursor) => {
    let error: unknown;
    try {
      decodeCursor(cursor);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe("validation_failed");
    expect((error as ValidationError).status).toBe(400);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual(["cursor"]);
  });
});
