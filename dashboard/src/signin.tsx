/** Sign-in: the local demo user (dev server only), a pasted access token, or Supabase Auth email + password. */
import { useState } from "preact/hooks";
import type { Auth, Session } from "./auth.ts";
import type { AppConfig } from "./config.ts";

export function SignInPage(props: { auth: Auth; config: AppConfig; message: string | null; onSignedIn: (session: Session) => void }) {
  const { auth, config } = props;
  const [token, setToken] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(props.message);
  const [busy, setBusy] = useState(false);

  const withToken = (value: string) => {
    try {
      props.onSignedIn(auth.signInWithToken(value));
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section class="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in</h1>
      <p class="muted">You see the runs your account owns: the database's row-level security decides, not this page.</p>
      {error && <div class="note error" role="alert">{error}</div>}

      {auth.passwordSignIn && (
        <form
          class="panel"
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            try {
              props.onSignedIn(await auth.signInWithPassword(email, password));
            } catch (err) {
              setError((err as Error).message);
            } finally {
              setBusy(false);
            }
          }}
        >
          <h2>With your account</h2>
          <label>
            <span>Email</span>
            <input type="email" name="email" autocomplete="username" required value={email} onInput={(e) => setEmail((e.currentTarget as HTMLInputElement).value)} />
          </label>
          <label>
            <span>Password</span>
            <input type="password" name="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
          </label>
          <button type="submit" class="primary" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
        </form>
      )}

      {config.demo && (
        <div class="panel">
          <h2>Local dev server</h2>
          <p>
            Sign in as {config.demo.label ?? "the demo user"}. Any other user: <code>npm run -s token -- --user &lt;uuid&gt;</code>, then
            paste the token below.
          </p>
          <button type="button" class="primary" onClick={() => withToken(config.demo!.token)}>Sign in as the demo user</button>
        </div>
      )}

      <form
        class="panel"
        onSubmit={(e) => {
          e.preventDefault();
          withToken(token);
        }}
      >
        <h2>With an access token</h2>
        <label>
          <span>Supabase access token (JWT)</span>
          <textarea name="token" rows={4} spellcheck={false} autocomplete="off" value={token} onInput={(e) => setToken((e.currentTarget as HTMLTextAreaElement).value)} />
        </label>
        <p class="muted small">Kept in this tab only (sessionStorage). A service-role key shows every user's runs.</p>
        <button type="submit" class={auth.passwordSignIn || config.demo ? "secondary" : "primary"}>Use this token</button>
      </form>
    </section>
  );
}
