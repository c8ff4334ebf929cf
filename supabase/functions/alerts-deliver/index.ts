// Supabase Edge Function entry point: wires the handler to Deno.serve, nothing else.
import { runtimeFromEnv } from "../../../shared/http/runtime.ts";
import { createApp } from "./app.ts";

Deno.serve(createApp(runtimeFromEnv()).fetch);
