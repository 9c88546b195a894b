// One class in the trainer console: reschedule, cancel, start and end; the roster with its
// waitlist; the waiting-room count before the start; the whole live board (sortable) with the
// samples accepted and rejected; the feedback summary afterwards.
import { useEffect, useRef, useState } from "preact/hooks";
import { call, client, type Schemas, type Workout } from "../api/client";
import { followLive, type StreamStatus } from "../live";
import { Link } from "../router";
import { session } from "../session";
import { ErrorNote, Loading, StateBadge, Title, localInput, useAction, useLoad, when } from "../ui";
import { TrainersOnly } from "./Console";

type Board = Schemas["BoardView"];
type Place = Schemas["Place"];

export function ConsoleClass(props: { id: string }) {
  if (session.user()?.role !== "trainer") return <TrainersOnly />;
  const id = props.id;
  const path = { params: { path: { id } } };
  const workout = useLoad(() => call(() => client.GET("/api/v1/workouts/{id}", path)), [id]);
  const action = useAction();
  const w = workout.data;
  if (workout.error) return <ErrorNote error={workout.error} />;
  if (!w) return <Loading what="the class" />;

  const command = (op: () => Promise<Workout>) =>
    void action.run(async () => {
      workout.setData(await op());
    });

  return (
    <section>
      <Title>{w.title}</Title>
      <p>
        <StateBadge state={w.state} /> {w.type} · {when(w.starts_at)} · {w.duration_minutes} min · {w.booked_count}/{w.capacity} booked
        {w.waitlist_count > 0 && `, ${w.waitlist_count} on the waitlist`}
      </p>
      <ErrorNote error={action.error} />
      <div class="actions">
        {w.state === "scheduled" && (
          <button type="button" class="primary" disabled={action.busy} onClick={() => command(() => call(() => client.POST("/api/v1/workouts/{id}/start", path)))}>
            Start the class
          </button>
        )}
        {w.state === "live" && (
          <button type="button" class="primary" disabled={action.busy} onClick={() => command(() => call(() => client.POST("/api/v1/workouts/{id}/end", path)))}>
            End the class
          </button>
        )}
      </div>
      {(w.state === "scheduled" || w.state === "live") && <LivePanel workout={w} onChange={workout.reload} />}
      {w.state === "scheduled" && <Reschedule workout={w} onDone={(next) => workout.setData(next)} />}
      {w.state === "scheduled" && <CancelClass id={id} onDone={(next) => workout.setData(next)} />}
      {w.state === "ended" && <Afterwards id={id} />}
      <Roster id={id} version={`${w.state}-${w.booked_count}-${w.waitlist_count}`} />
      <p>
        <Link href="/console">← Your classes</Link>
      </p>
    </section>
  );
}

/** The waiting room before the start, the board while live (from the trainer's stream). */
function LivePanel(props: { workout: Workout; onChange: () => void }) {
  const id = props.workout.id;
  const [waiting, setWaiting] = useState<number | null>(null);
  const [board, setBoard] = useState<Board | null>(null);
  const [stream, setStream] = useState<StreamStatus>("connecting");
  const [problem, setProblem] = useState<unknown>(null);
  const fetching = useRef(false);
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;

  useEffect(() => {
    const refresh = async () => {
      if (fetching.current) return; // one board request at a time; the next frame catches up
      fetching.current = true;
      try {
        setBoard(await call(() => client.GET("/api/v1/workouts/{id}/board", { params: { path: { id } } })));
        setProblem(null);
      } catch (err) {
        setProblem(err);
      } finally {
        fetching.current = false;
      }
    };
    const follow = followLive(
      id,
      null,
      (event) => {
        if (event.kind === "waiting") setWaiting(event.data.participants_waiting);
        if (event.kind === "started" || event.kind === "ended" || event.kind === "cancelled") onChange.current();
        if (event.kind === "frame") void refresh();
      },
      (status, err) => {
        setStream(status);
        if (err) setProblem(err);
      },
    );
    return () => follow.stop();
  }, [id]);

  return (
    <section class="panel" aria-labelledby="live-title">
      <h2 id="live-title">{props.workout.state === "live" ? "Live board" : "Waiting room"}</h2>
      <p class={`stream stream-${stream}`} role="status">
        {stream === "open" ? "Following live" : stream === "reconnecting" ? "Connection lost — reconnecting…" : stream}
      </p>
      <ErrorNote error={problem} />
      {props.workout.state === "scheduled" && (
        <p>
          <strong data-testid="console-waiting">{waiting ?? "…"}</strong> in the waiting room
        </p>
      )}
      {props.workout.state === "live" && board && <BoardTable board={board} />}
      {props.workout.state === "live" && !board && <p class="muted">Waiting for the first ranking…</p>}
    </section>
  );
}

type SortKey = "rank" | "display_name" | "energy" | "rating";
const COLUMNS: [SortKey, string][] = [
  ["rank", "Rank"],
  ["display_name", "Name"],
  ["energy", "Energy"],
  ["rating", "Effort"],
];

function BoardTable(props: { board: Board }) {
  const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({ key: "rank", descending: false });
  const b = props.board;
  const rows = [...b.places].sort((x: Place, y: Place) => {
    const a = x[sort.key];
    const c = y[sort.key];
    const order = typeof a === "string" ? a.localeCompare(c as string) : (a as number) - (c as number);
    return sort.descending ? -order : order;
  });
  return (
    <>
      <p>
        <strong data-testid="board-participants">{b.participants}</strong> taking part · samples accepted{" "}
        <strong data-testid="samples-accepted">{b.samples_accepted}</strong>, rejected <strong>{b.samples_rejected}</strong>
        {b.places.length < b.participants && ` · showing the first ${b.places.length}`}
      </p>
      <table class="board" data-testid="console-board">
        <thead>
          <tr>
            {COLUMNS.map(([key, label]) => (
              <th scope="col" aria-sort={sort.key === key ? (sort.descending ? "descending" : "ascending") : "none"}>
                <button
                  type="button"
                  class="sort"
                  onClick={() => setSort({ key, descending: sort.key === key ? !sort.descending : key !== "rank" && key !== "display_name" })}
                >
                  {label}
                  {sort.key === key ? (sort.descending ? " ▼" : " ▲") : ""}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((p) => (
            <tr key={p.rank}>
              <td>{p.rank}</td>
              <td>{p.display_name}</td>
              <td>{p.energy}</td>
              <td>{p.rating}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Reschedule(props: { workout: Workout; onDone: (w: Workout) => void }) {
  const [startsAt, setStartsAt] = useState(localInput(new Date(props.workout.starts_at)));
  const [minutes, setMinutes] = useState(String(props.workout.duration_minutes));
  const action = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      props.onDone(
        await call(() =>
          client.POST("/api/v1/workouts/{id}/reschedule", {
            params: { path: { id: props.workout.id } },
            body: { starts_at: new Date(startsAt).toISOString(), duration_minutes: Number(minutes) },
          }),
        ),
      );
    });
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="reschedule-title">
      <h2 id="reschedule-title">Reschedule</h2>
      <div class="grid">
        <label>
          New start
          <input type="datetime-local" required value={startsAt} onInput={(e) => setStartsAt(e.currentTarget.value)} />
        </label>
        <label>
          Minutes
          <input type="number" min={5} max={240} required value={minutes} onInput={(e) => setMinutes(e.currentTarget.value)} />
        </label>
      </div>
      <ErrorNote error={action.error} />
      <button type="submit" disabled={action.busy}>
        Reschedule
      </button>
    </form>
  );
}

function CancelClass(props: { id: string; onDone: (w: Workout) => void }) {
  const [reason, setReason] = useState("");
  const action = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    if (!window.confirm("Cancel this class for everyone who booked it?")) return;
    void action.run(async () => {
      props.onDone(
        await call(() =>
          client.POST("/api/v1/workouts/{id}/cancel", { params: { path: { id: props.id } }, body: { reason: reason || null } }),
        ),
      );
    });
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="cancel-title">
      <h2 id="cancel-title">Cancel the class</h2>
      <label>
        Reason (told to trainees)
        <input maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      <ErrorNote error={action.error} />
      <button type="submit" class="danger" disabled={action.busy}>
        Cancel the class
      </button>
    </form>
  );
}

function Roster(props: { id: string; version: string }) {
  const roster = useLoad(
    () => call(() => client.GET("/api/v1/workouts/{id}/registrations", { params: { path: { id: props.id }, query: { limit: 100 } } })),
    [props.id, props.version],
  );
  const items = roster.data?.items ?? [];
  const booked = items.filter((r) => r.status === "booked");
  const waitlist = items.filter((r) => r.status === "waitlisted");
  return (
    <section class="panel" aria-labelledby="roster-title">
      <h2 id="roster-title">Roster</h2>
      <ErrorNote error={roster.error} />
      {roster.data && items.length === 0 && <p>Nobody has booked yet.</p>}
      {booked.length > 0 && (
        <ol data-testid="roster-booked">
          {booked.map((r) => (
            <li key={r.trainee_id}>
              {r.full_name}
              {r.joined_at && <span class="muted"> · joined</span>}
            </li>
          ))}
        </ol>
      )}
      {waitlist.length > 0 && (
        <>
          <h3>Waitlist</h3>
          <ul class="plain" data-testid="roster-waitlist">
            {waitlist.map((r) => (
              <li key={r.trainee_id}>
                #{r.waitlist_position} {r.full_name}
              </li>
            ))}
          </ul>
        </>
      )}
      {roster.data?.next_cursor && <p class="muted">Showing the first 100.</p>}
    </section>
  );
}

function Afterwards(props: { id: string }) {
  const path = { params: { path: { id: props.id } } };
  const feedback = useLoad(() => call(() => client.GET("/api/v1/workouts/{id}/feedback", path)), [props.id]);
  const ranking = useLoad(() => call(() => client.GET("/api/v1/workouts/{id}/results", path)), [props.id]);
  const f = feedback.data;
  return (
    <>
      <section class="panel" aria-labelledby="feedback-title">
        <h2 id="feedback-title">Feedback</h2>
        <ErrorNote error={feedback.error} />
        <button type="button" class="secondary" onClick={feedback.reload}>
          Refresh
        </button>
        {f && (
          <p>
            Average <strong data-testid="feedback-average">{f.average != null ? f.average.toFixed(1) : "—"}</strong> from{" "}
            <strong data-testid="feedback-count">{f.count}</strong> {f.count === 1 ? "trainee" : "trainees"}
          </p>
        )}
        {f && f.items.length > 0 && (
          <ul>
            {f.items.map((i) => (
              <li key={i.trainee_id}>
                {"★".repeat(i.rating)}
                {"☆".repeat(5 - i.rating)} <span class="sr-only">{i.rating} of 5</span> {i.full_name}
                {i.comment && `: “${i.comment}”`}
              </li>
            ))}
          </ul>
        )}
      </section>
      {ranking.data && (
        <section class="panel" aria-labelledby="final-title">
          <h2 id="final-title">Final ranking</h2>
          <ol>
            {ranking.data.items.map((e) => (
              <li key={e.rank}>
                {e.display_name}: {e.energy} energy, {Math.round(e.calories)} kcal
              </li>
            ))}
          </ol>
        </section>
      )}
    </>
  );
}
