/** config.json beside index.html: where the API is, and what sign-in this deployment offers. */
export interface AppConfig {
  /** Base URL of the functions, absolute or relative to the page (default: supabaseUrl + /functions/v1, else /functions/v1). */
  functionsUrl: string;
  /** With anonKey: email + password sign-in through Supabase Auth (supabase-js). */
  supabaseUrl?: string;
  anonKey?: string;
  /** The Temporal Web UI, for links from a run page. */
  temporalUiUrl?: string;
  temporalNamespace: string;
  /** How often the runs page re-reads its first page and the stats (ms). */
  pollIntervalMs: number;
  /** Local dev server only: a signed-in demo user's token offered on the sign-in page. */
  demo?: { token: string; label?: string };
}

export async function loadConfig(): Promise<AppConfig> {
  let raw: Record<string, unknown> = {};
  try {
    const response = await fetch(new URL("./config.json", location.href), { cache: "no-store" });
    if (response.ok) raw = await response.json();
  } catch {
    // no config.json: the functions on this origin
  }
  const text = (key: string) => (typeof raw[key] === "string" && raw[key] ? (raw[key] as string) : undefined);
  const supabaseUrl = text("supabaseUrl")?.replace(/\/+$/, "");
  const functionsUrl = text("functionsUrl") ?? (supabaseUrl ? `${supabaseUrl}/functions/v1` : "/functions/v1");
  const poll = Number(raw.pollIntervalMs);
  const demo = raw.demo as { token?: unknown; label?: unknown } | undefined;
  return {
    functionsUrl: new URL(functionsUrl.replace(/\/+$/, ""), location.href).toString(),
    supabaseUrl,
    anonKey: text("anonKey"),
    temporalUiUrl: text("temporalUiUrl")?.replace(/\/+$/, ""),
    temporalNamespace: text("temporalNamespace") ?? "default",
    pollIntervalMs: Number.isFinite(poll) && poll >= 500 ? poll : 3000,
    demo: demo && typeof demo.token === "string" ? { token: demo.token, label: typeof demo.label === "string" ? demo.label : undefined } : undefined,
  };
}
