/**
 * The execution-tracker dashboard: sign in, then the runs, one run, the numbers and the alerts.
 * Routes live in the URL fragment (#/, #/runs/<id>, #/numbers, #/alerts), so any static host
 * serves it as is.
 */
import { type ComponentChildren, render } from "preact";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { AlertsPage } from "./alerts.tsx";
import { type Api, createApi, type Run, type WorkflowSummary } from "./api.ts";
import { Auth, type Session } from "./auth.ts";
import { type AppConfig, loadConfig } from "./config.ts";
import { type Filters, filtersToParams, parseFilters } from "./model.ts";
import { NumbersPage } from "./numbers.tsx";
import { RunPage } from "./run.tsx";
import { RunsPage } from "./runs.tsx";
import { SignInPage } from "./signin.tsx";

type Route = { page: "runs"; filters: Filters } | { page: "run"; id: string } | { page: "numbers"; filters: Filters } | { page: "alerts" };

function parseRoute(hash: string): Route {
  const [path, query = ""] = hash.replace(/^#/, "").split("?", 2);
  const params = new URLSearchParams(query);
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) return { page: "run", id: decodeURIComponent(run[1]) };
  if (path === "/numbers") return { page: "numbers", filters: parseFilters(params) };
  if (path === "/alerts") return { page: "alerts" };
  return { page: "runs", filters: parseFilters(params) };
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const update = () => setHash(location.hash);
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return hash;
}

function App({ config, auth, initial }: { config: AppConfig; auth: Auth; initial: Session | null }) {
  const [session, setSession] = useState<Session | null>(initial);
  const [signInMessage, setSignInMessage] = useState<string | null>(null);
  const [workflows, setWorkflows] = useState<WorkflowSummary[] | null>(null);
  const [seen, setSeen] = useState<Map<string, string>>(new Map());
  const [notice, setNotice] = useState<string | null>(null);
  const [runsHref, setRunsHref] = useState("#/");
  const hash = useHash();
  const route = parseRoute(hash);

  const signOut = useCallback(async (message: string | null) => {
    await session?.signOut();
    setSession(null);
    setWorkflows(null);
    setSeen(new Map());
    setSignInMessage(message);
  }, [session]);

  const api: Api | null = useMemo(
    () =>
      session &&
      createApi({
        functionsUrl: config.functionsUrl,
        anonKey: config.anonKey,
        token: () => session.token(),
        onUnauthorized: () => void signOut("The server rejected your token (expired or not valid for this project): sign in again."),
      }),
    [session],
  );

  useEffect(() => {
    if (!api) return;
    api.listWorkflows().then(setWorkflows, () => setWorkflows(null));
  }, [api]);

  useEffect(() => {
    if (route.page === "runs") setRunsHref(hash || "#/");
  }, [hash]);

  const onRowsSeen = useCallback((rows: Run[]) => {
    setSeen((prev) => {
      if (rows.every((r) => prev.has(r.workflowId))) return prev;
      const next = new Map(prev);
      for (const r of rows) next.set(r.workflowId, r.workflow?.name ?? r.workflowId);
      return next;
    });
  }, []);

  if (!session || !api) {
    return (
      <Shell>
        <SignInPage auth={auth} config={config} message={signInMessage} onSignedIn={(s) => (setSignInMessage(null), setSession(s))} />
      </Shell>
    );
  }

  const workflowsDerived = workflows === null;
  const workflowOptions = workflows ?? [...seen].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));
  const go = (page: "" | "numbers", filters: Filters) => {
    const query = filtersToParams(filters).toString();
    location.hash = `#/${page}${query ? `?${query}` : ""}`;
  };
  // Bulk actions and alert endpoints belong to one owner: the service role would have to name one.
  const isUser = session.identity.role !== "service_role";
  const who = !isUser ? "service role (every user's runs)" : session.identity.email ?? session.identity.userId ?? "signed in";

  return (
    <Shell
      nav={
        <nav aria-label="Main">
          <a href={runsHref} aria-current={route.page === "runs" || route.page === "run" ? "page" : undefined}>Runs</a>
          <a href={`#/numbers${runsHref.includes("?") ? `?${runsHref.split("?")[1]}` : ""}`} aria-current={route.page === "numbers" ? "page" : undefined}>Numbers</a>
          {isUser && <a href="#/alerts" aria-current={route.page === "alerts" ? "page" : undefined}>Alerts</a>}
        </nav>
      }
      user={
        <div class="user">
          <span class="who" title={session.identity.userId ?? undefined} data-user-id={session.identity.userId ?? ""}>{who}</span>
          <button type="button" class="link" onClick={() => signOut(null)}>Sign out</button>
        </div>
      }
    >
      {route.page === "runs" && (
        <RunsPage
          api={api}
          filters={route.filters}
          onFilters={(f) => go("", f)}
          workflows={workflowOptions}
          workflowsDerived={workflowsDerived}
          onRowsSeen={onRowsSeen}
          pollIntervalMs={config.pollIntervalMs}
          notice={notice}
          onDismissNotice={() => setNotice(null)}
          canBulk={isUser}
        />
      )}
      {route.page === "numbers" && (
        <NumbersPage
          api={api}
          filters={route.filters}
          onFilters={(f) => go("numbers", f)}
          workflows={workflowOptions}
          workflowsDerived={workflowsDerived}
          pollIntervalMs={config.pollIntervalMs}
        />
      )}
      {route.page === "alerts" && (isUser
        ? <AlertsPage api={api} workflows={workflowOptions} pollIntervalMs={config.pollIntervalMs} />
        : <section><h1>Alerts</h1><p>Alert endpoints belong to a user: sign in as one to manage theirs.</p></section>)}
      {route.page === "run" && (
        <RunPage
          key={route.id}
          api={api}
          id={route.id}
          config={config}
          backHref={runsHref}
          onDeleted={(message) => {
            setNotice(message);
            location.hash = runsHref;
          }}
        />
      )}
    </Shell>
  );
}

function Shell(props: { nav?: ComponentChildren; user?: ComponentChildren; children: ComponentChildren }) {
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault(); // the fragment holds the route
          document.getElementById("main")?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">execution-tracker</a>
        {props.nav}
        {props.user}
      </header>
      <main id="main" tabIndex={-1}>{props.children}</main>
    </>
  );
}

async function start() {
  const root = document.getElementById("app")!;
  try {
    const config = await loadConfig();
    const auth = await Auth.create(config);
    const initial = await auth.restore();
    root.textContent = ""; // the boot message
    render(<App config={config} auth={auth} initial={initial} />, root);
  } catch (error) {
    root.textContent = `The dashboard could not start: ${(error as Error).message}`;
  }
}

start();
