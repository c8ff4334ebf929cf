/**
 * Checks one HTTP answer of a function against the OpenAPI document (shared/openapi/document.ts):
 * the operation exists (or the answer is the 404 every unlisted path or method gets), the
 * status is one it declares, the body validates against that response's schema (JSON Schema
 * 2020-12, ajv, formats included), it is JSON when a body is declared and empty when none is,
 * and it carries x-request-id (and Retry-After with a 503).
 *
 * tests/e2e/support.ts runs every answer its `invoke` and `raw` receive through `conform`, so
 * an e2e test fails at the request whose answer drifted from the document. The fuzz test uses
 * `checkAnswer` for what schemathesis reports.
 */
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { openApiDocument } from "../../shared/openapi/document.ts";

// deno-lint-ignore no-explicit-any
type JsonObject = Record<string, any>;

export interface Answer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
  headers: Headers;
}

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  params: number;
  operation: JsonObject;
}

interface Compiled {
  document: JsonObject;
  routes: Route[];
  validator(ref: string): ValidateFunction;
}

let compiled: Compiled | null = null;

function compile(): Compiled {
  const document = openApiDocument();
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  ajv.addSchema(document, "openapi.json");
  const cache = new Map<string, ValidateFunction>();
  const routes: Route[] = [];
  for (const [template, item] of Object.entries(document.paths as Record<string, JsonObject>)) {
    const params = (template.match(/\{[^}]+\}/g) ?? []).length;
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    for (const [method, operation] of Object.entries(item)) routes.push({ method: method.toUpperCase(), template, pattern, params, operation });
  }
  // A literal segment wins over a parameter (/workflows/types before /workflows/{id}), as in OpenAPI.
  routes.sort((a, b) => a.params - b.params);
  return {
    document,
    routes,
    validator(ref) {
      let validate = cache.get(ref);
      if (!validate) {
        validate = ajv.getSchema(`openapi.json${ref}`);
        if (!validate) throw new Error(`contract: no schema at ${ref}`);
        cache.set(ref, validate);
      }
      return validate;
    },
  };
}

/** The document's path of a request URL: below /functions/v1, without a trailing slash. */
export function documentPath(url: string): string {
  const pathname = new URL(url, "http://localhost").pathname;
  const below = pathname.replace(/^.*?\/functions\/v1(?=\/)/, "");
  return below.length > 1 ? below.replace(/\/+$/, "") : below;
}

function resolve(document: JsonObject, value: JsonObject): JsonObject {
  if (!value.$ref) return value;
  const parts = String(value.$ref).replace(/^#\//, "").split("/");
  return parts.reduce((node: JsonObject, key) => node[key], document);
}

/** What is wrong with `answer` to `method url` by the document, or null when it conforms. */
export function checkAnswer(method: string, url: string, answer: Answer): string | null {
  compiled ??= compile();
  const upper = method.toUpperCase();
  // A CORS preflight is the HTTP frame's, not an operation of the API.
  if (upper === "OPTIONS") return null;
  const path = documentPath(url);
  const asMethod = upper === "HEAD" ? "GET" : upper;
  const candidates = compiled.routes.filter((route) => route.pattern.test(path));
  const route = candidates.find((r) => r.method === asMethod);
  let response: JsonObject;
  let where: string;
  if (!route) {
    // Not in the document: the frame's 404 for an unknown route (or the router's for an unknown function).
    if (answer.status !== 404) return `${upper} ${path} is not in the document, yet it answered ${answer.status} (only 404 is allowed)`;
    response = compiled.document.components.responses.Error404;
    where = `${upper} ${path} (not in the document)`;
    if (!/^\/(executions-create|executions-update|executions-list|executions-stats|workflows|executions-webhook|timeout-sweeper)(\/|$)/.test(path)) {
      // The functions router's own 404 (no such function) carries no request id.
      return answer.body?.error?.code === "not_found" ? null : `${where}: 404 without a not_found error body`;
    }
  } else {
    where = `${upper} ${route.template} (${route.operation.operationId})`;
    const declared = route.operation.responses[String(answer.status)];
    if (!declared) {
      return `${where} answered ${answer.status}, which the document does not declare (declared: ${Object.keys(route.operation.responses).join(", ")}); body: ${preview(answer.body)}`;
    }
    response = resolve(compiled.document, declared);
  }
  const problems: string[] = [];
  const contentType = answer.headers.get("content-type") ?? "";
  const schema = response.content?.["application/json"]?.schema;
  if (schema) {
    if (upper !== "HEAD") {
      if (!/^application\/json\b/i.test(contentType)) problems.push(`content-type is "${contentType}", not application/json`);
      // One schema, or `oneOf` several (GET /executions-stats: the summary or, with `bucket`, the series): exactly one must match.
      const refs: string[] = schema.$ref ? [schema.$ref] : (schema.oneOf ?? []).map((one: JsonObject) => one.$ref).filter(Boolean);
      const failures: string[] = [];
      for (const ref of refs) {
        const validate = compiled.validator(ref);
        if (!validate(answer.body)) {
          failures.push(`body does not match ${ref}: ${(validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || "(body)"} ${e.message}${e.params && "additionalProperty" in e.params ? ` (${e.params.additionalProperty})` : ""}`).join("; ")}`);
        }
      }
      if (refs.length && failures.length !== refs.length - 1) {
        problems.push(failures.length === refs.length ? failures.join(" | ") : `body matches ${refs.length - failures.length} of the oneOf schemas ${refs.join(", ")}`);
      }
      if (!refs.length && (answer.body === null || typeof answer.body !== "object")) problems.push("body is not a JSON object");
    }
  } else if (response.content) {
    // A body that is not JSON (an export): one of the declared content types, as text.
    const types = Object.keys(response.content);
    if (upper !== "HEAD" && !types.some((type) => contentType.toLowerCase().startsWith(type))) {
      problems.push(`content-type is "${contentType}", not one of ${types.join(", ")}`);
    }
  } else if (answer.body !== null && answer.body !== undefined && answer.body !== "") {
    problems.push(`a body where none is declared: ${preview(answer.body)}`);
  }
  for (const name of Object.keys(response.headers ?? {})) {
    if (answer.headers.get(name) === null) problems.push(`no ${name} header`);
  }
  if (answer.status === 503 && answer.headers.get("retry-after") === null) problems.push("a 503 without Retry-After");
  return problems.length ? `${where} answered ${answer.status}: ${problems.join("; ")}; body: ${preview(answer.body)}` : null;
}

function preview(body: unknown): string {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return text === undefined ? "(none)" : text.length > 600 ? `${text.slice(0, 600)}...` : text;
}

export class ContractViolation extends Error {
  override name = "ContractViolation";
}

/** `answer`, after checking it against the document; throws ContractViolation when it does not conform. */
export function conform<A extends Answer>(method: string, url: string, answer: A): A {
  const problem = checkAnswer(method, url, answer);
  if (problem) throw new ContractViolation(`the answer does not conform to the OpenAPI document (shared/openapi/document.ts): ${problem}`);
  return answer;
}
