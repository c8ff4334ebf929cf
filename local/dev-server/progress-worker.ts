/**
 * A ticker on its own thread: PGlite creates a database in WASM on the main thread, which
 * blocks its event loop for most of the ~15 s, so a timer there cannot print. This worker
 * writes "... still <doing> (N s)" to stdout every `everyMs` until the main thread stops it.
 */
/// <reference lib="deno.worker" />
self.onmessage = (event: MessageEvent<{ line: string; everyMs: number; startedAt: number }>) => {
  const { line, everyMs, startedAt } = event.data;
  const encoder = new TextEncoder();
  setInterval(() => {
    const seconds = Math.round((Date.now() - startedAt) / 1000);
    try {
      Deno.stdout.writeSync(encoder.encode(`${line} (${seconds} s)\n`));
    } catch { /* stdout closed */ }
  }, everyMs);
};
