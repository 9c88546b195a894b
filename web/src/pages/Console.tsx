// The trainer console: your upcoming classes and a form to schedule a new one.
import { useState } from "preact/hooks";
import { call, client, type WorkoutType } from "../api/client";
import { navigate } from "../router";
import { session } from "../session";
import { ErrorNote, Loading, Title, WORKOUT_TYPES, localInput, useAction, useLoad } from "../ui";
import { ClassCard } from "./Classes";

/** Shown instead of any console page to someone who is not a trainer. */
export function TrainersOnly() {
  return (
    <section>
      <Title>Trainer console</Title>
      <p class="error" role="alert">
        The console is for trainers. You are signed in as a {session.user()?.role ?? "guest"}, so you cannot schedule, start or
        end classes.
      </p>
    </section>
  );
}

export function Console() {
  const user = session.user();
  if (user?.role !== "trainer") return <TrainersOnly />;
  const mine = useLoad(
    () => call(() => client.GET("/api/v1/workouts", { params: { query: { trainer_id: user.id, limit: 100 } } })),
    [],
  );
  return (
    <section>
      <Title>Your classes</Title>
      <ErrorNote error={mine.error} />
      {!mine.data && !mine.error && <Loading what="your classes" />}
      {mine.data && mine.data.items.length === 0 && <p>No upcoming classes. Schedule one below.</p>}
      {mine.data && (
        <ul class="cards">
          {mine.data.items.map((w) => (
            <ClassCard workout={w} href={`/console/${w.id}`} key={w.id} />
          ))}
        </ul>
      )}
      <CreateClass />
    </section>
  );
}

function CreateClass() {
  const soon = new Date(Date.now() + 10 * 60_000);
  const [form, setForm] = useState({
    type: "hiit",
    title: "",
    description: "",
    starts_at: localInput(soon),
    duration_minutes: "30",
    capacity: "20",
  });
  const action = useAction();
  const set = (field: keyof typeof form) => (e: { currentTarget: { value: string } }) =>
    setForm({ ...form, [field]: e.currentTarget.value });
  const submit = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      const created = await call(() =>
        client.POST("/api/v1/workouts", {
          body: {
            type: form.type as WorkoutType,
            title: form.title,
            description: form.description,
            starts_at: new Date(form.starts_at).toISOString(),
            duration_minutes: Number(form.duration_minutes),
            capacity: Number(form.capacity),
          },
        }),
      );
      navigate(`/console/${created.id}`);
    });
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">Schedule a class</h2>
      <div class="grid">
        <label>
          Title
          <input required maxLength={200} value={form.title} onInput={set("title")} />
        </label>
        <label>
          Type
          <select value={form.type} onChange={set("type")}>
            {WORKOUT_TYPES.map((t) => (
              <option value={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          Starts
          <input type="datetime-local" required value={form.starts_at} onInput={set("starts_at")} />
        </label>
        <label>
          Minutes
          <input type="number" min={5} max={240} required value={form.duration_minutes} onInput={set("duration_minutes")} />
        </label>
        <label>
          Places
          <input type="number" min={1} max={100000} required value={form.capacity} onInput={set("capacity")} />
        </label>
      </div>
      <label>
        Description
        <textarea rows={2} maxLength={5000} value={form.description} onInput={set("description")} />
      </label>
      <ErrorNote error={action.error} />
      <button type="submit" disabled={action.busy}>
        Schedule
      </button>
    </form>
  );
}
