// Sign in and sign up.
import { useState } from "preact/hooks";
import { call, client } from "../api/client";
import { Link, navigate } from "../router";
import { session } from "../session";
import { ErrorNote, Title, useAction } from "../ui";

export function Login() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const action = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      session.start(await call(() => client.POST("/api/v1/auth/login", { body: { email, password } })));
      navigate("/", true);
    });
  };
  return (
    <section class="narrow">
      <Title>Sign in</Title>
      {session.endedBecause && <p class="notice" role="status">{session.endedBecause}</p>}
      <form onSubmit={submit}>
        <label>
          Email
          <input type="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Password
          <input type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <ErrorNote error={action.error} />
        <button type="submit" disabled={action.busy}>Sign in</button>
      </form>
      <p>
        New here? <Link href="/signup">Create an account</Link>
      </p>
    </section>
  );
}

export function Signup() {
  const [form, setForm] = useState({ role: "trainee" as "trainee" | "trainer", full_name: "", email: "", mobile: "", password: "" });
  const action = useAction();
  const set = (field: keyof typeof form) => (e: { currentTarget: { value: string } }) =>
    setForm({ ...form, [field]: e.currentTarget.value });
  const submit = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      session.start(await call(() => client.POST("/api/v1/auth/register", { body: form })));
      navigate("/", true);
    });
  };
  return (
    <section class="narrow">
      <Title>Create an account</Title>
      <form onSubmit={submit}>
        <fieldset class="choice">
          <legend>I am a</legend>
          <label class="inline">
            <input type="radio" name="role" value="trainee" checked={form.role === "trainee"} onChange={set("role")} /> Trainee
          </label>
          <label class="inline">
            <input type="radio" name="role" value="trainer" checked={form.role === "trainer"} onChange={set("role")} /> Trainer
          </label>
        </fieldset>
        <label>
          Full name
          <input required autocomplete="name" value={form.full_name} onInput={set("full_name")} />
        </label>
        <label>
          Email
          <input type="email" required autocomplete="email" value={form.email} onInput={set("email")} />
        </label>
        <label>
          Mobile <span class="hint">with country code, e.g. +919876543210</span>
          <input type="tel" required autocomplete="tel" value={form.mobile} onInput={set("mobile")} />
        </label>
        <label>
          Password <span class="hint">at least 8 characters</span>
          <input type="password" required autocomplete="new-password" value={form.password} onInput={set("password")} />
        </label>
        <ErrorNote error={action.error} />
        <button type="submit" disabled={action.busy}>Create account</button>
      </form>
      <p>
        Have an account? <Link href="/login">Sign in</Link>
      </p>
    </section>
  );
}
