// The cultfit web app: trainees book classes, wait in the waiting room, work out with a live
// ranking (and a wearable in the browser), and see results; trainers run the console.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./styles.css";
import { ClassPage } from "./pages/ClassPage";
import { Classes } from "./pages/Classes";
import { Console } from "./pages/Console";
import { ConsoleClass } from "./pages/ConsoleClass";
import { History } from "./pages/History";
import { Login, Signup } from "./pages/Auth";
import { Results } from "./pages/Results";
import { Link, match, navigate, usePath } from "./router";
import { session } from "./session";
import { Title } from "./ui";

function useUser() {
  const [user, setUser] = useState(session.user());
  useEffect(() => session.subscribe(() => setUser(session.user())), []);
  return user;
}

function Page(props: { path: string }) {
  const user = useUser();
  const path = props.path;
  if (!user) {
    if (path === "/signup") return <Signup />;
    return <Login />;
  }
  if (path === "/" || path === "/login" || path === "/signup") {
    return user.role === "trainer" ? <Console /> : <Classes />;
  }
  if (path === "/classes") return <Classes />;
  if (path === "/history") return <History />;
  if (path === "/console") return <Console />;
  let params = match("/classes/:id", path);
  if (params) return <ClassPage id={params.id} key={params.id} />;
  params = match("/classes/:id/results", path);
  if (params) return <Results id={params.id} key={params.id} />;
  params = match("/console/:id", path);
  if (params) return <ConsoleClass id={params.id} key={params.id} />;
  return (
    <section>
      <Title>Not found</Title>
      <p>
        There is no page at {path}. <Link href="/">Go to the start page</Link>.
      </p>
    </section>
  );
}

function App() {
  const user = useUser();
  const path = usePath();
  useEffect(() => {
    if (!user && path !== "/login" && path !== "/signup" && path !== "/") navigate("/login", true);
  }, [user, path]);
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <Link href="/" class="brand">
          cultfit
        </Link>
        {user && (
          <nav aria-label="Main">
            {user.role === "trainer" ? <Link href="/console">Console</Link> : <Link href="/classes">Classes</Link>}
            <Link href="/history">History</Link>
            <span class="who" title={user.email}>
              {user.full_name} <span class="muted">({user.role})</span>
            </span>
            <button
              type="button"
              class="link"
              onClick={() => {
                void session.logout();
                navigate("/login", true);
              }}
            >
              Sign out
            </button>
          </nav>
        )}
      </header>
      <main id="main">
        <Page path={path} key={path} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
