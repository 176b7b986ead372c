import { useEffect, useState } from "preact/hooks";
import { Link, match, navigate, useLocation } from "./lib/router";
import { session, useSession } from "./lib/session";
import { SignIn } from "./pages/SignIn";
import { PromptsPage } from "./pages/Prompts";
import { PromptPage } from "./pages/Prompt";
import { PlaygroundPage } from "./pages/Playground";
import { ExecutionsPage, ExecutionPage } from "./pages/Executions";
import { TracesPage, TracePage } from "./pages/Traces";
import { AnalyticsPage } from "./pages/Analytics";
import { AdminPage } from "./pages/Admin";

const nav = [
  ["/prompts", "Prompts"],
  ["/playground", "Playground"],
  ["/executions", "Executions"],
  ["/traces", "Traces"],
  ["/analytics", "Analytics"],
  ["/admin", "Admin"],
] as const;

type Theme = "light" | "dark" | "system";

function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem("promptledger.theme") as Theme) || "system");
  useEffect(() => {
    const root = document.documentElement;
    if (theme === "system") delete root.dataset.theme;
    else root.dataset.theme = theme;
    localStorage.setItem("promptledger.theme", theme);
  }, [theme]);
  return [theme, setTheme];
}

function route(path: string) {
  let m: Record<string, string> | null;
  if (path === "/" || path === "/prompts") return { title: "Prompts", view: <PromptsPage /> };
  if ((m = match("/prompts/:name", path))) return { title: m.name!, view: <PromptPage name={m.name!} /> };
  if (path === "/playground") return { title: "Playground", view: <PlaygroundPage /> };
  if (path === "/executions") return { title: "Executions", view: <ExecutionsPage /> };
  if ((m = match("/executions/:id", path))) return { title: "Execution", view: <ExecutionPage id={m.id!} /> };
  if (path === "/traces") return { title: "Traces", view: <TracesPage /> };
  if ((m = match("/traces/:id", path))) return { title: "Trace", view: <TracePage id={m.id!} /> };
  if (path === "/analytics") return { title: "Analytics", view: <AnalyticsPage /> };
  if (path === "/admin") return { title: "Admin", view: <AdminPage /> };
  return {
    title: "Not found",
    view: (
      <section>
        <h1>Page not found</h1>
        <p>
          Nothing lives at <code>{path}</code>. <Link href="/prompts">Go to the prompts</Link>.
        </p>
      </section>
    ),
  };
}

export function App() {
  const who = useSession();
  const { path } = useLocation();
  const [theme, setTheme] = useTheme();
  const [menuOpen, setMenuOpen] = useState(false);
  const page = who ? route(path) : { title: "Sign in", view: <SignIn /> };

  useEffect(() => {
    document.title = `${page.title} · PromptLedger`;
    setMenuOpen(false);
  }, [page.title, path]);

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link href="/prompts" class="brand">
          <img src="/favicon.svg" alt="" width="24" height="24" /> PromptLedger
        </Link>
        {who && (
          <button
            type="button"
            class="menu-toggle"
            aria-expanded={menuOpen}
            aria-controls="main-nav"
            onClick={() => setMenuOpen(!menuOpen)}
          >
            Menu
          </button>
        )}
        {who && (
          <nav id="main-nav" aria-label="Main" class={menuOpen ? "open" : ""}>
            <ul>
              {nav.map(([to, label]) => (
                <li key={to}>
                  <Link href={to} aria-current={path.startsWith(to) || (to === "/prompts" && path === "/") ? "page" : undefined}>
                    {label}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <div class="topbar-end">
          <label class="theme">
            <span class="visually-hidden">Theme</span>
            <select value={theme} onChange={(e) => setTheme((e.target as HTMLSelectElement).value as Theme)}>
              <option value="system">System theme</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          {who && (
            <>
              <span class="scope" title="The signed-in key's scope">
                {who.scope}
              </span>
              <button
                type="button"
                class="button secondary"
                onClick={() => {
                  session.signOut();
                  navigate("/", true);
                }}
              >
                Sign out
              </button>
            </>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {page.view}
      </main>
    </div>
  );
}
