// The session for a joined trainee: the waiting room (countdown, how many wait) until the
// trainer starts, then the live screen (rank, effort meter, energy, top 10, neighbours) fed by
// SSE, with the browser wearable panel publishing energy over NATS WebSocket.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Schemas, Workout } from "../api/client";
import { followLive, type Frame, type StreamStatus } from "../live";
import { Link } from "../router";
import { session } from "../session";
import { ErrorNote, Title, duration, useCountdown, when } from "../ui";
import type { Wearable, WearableStatus } from "../wearable";

type Joined = Schemas["JoinView"];
type Phase = "waiting" | "live" | "ended" | "cancelled";

const STREAM_TEXT: Record<StreamStatus, string> = {
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Connection lost — reconnecting…",
  closed: "Closed",
};

export function LiveSession(props: { workout: Workout; joined: Joined; onEnded: () => void; onLeave: () => void }) {
  const { workout, joined } = props;
  const [phase, setPhase] = useState<Phase>(joined.state === "live" ? "live" : "waiting");
  const [startsAt, setStartsAt] = useState(joined.starts_at);
  const [waiting, setWaiting] = useState<number | null>(null);
  const [frame, setFrame] = useState<Frame | null>(null);
  const [stream, setStream] = useState<StreamStatus>("connecting");
  const [problem, setProblem] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const wearable = useRef<Wearable | null>(null);
  const [deviceState, setDeviceState] = useState<{ status: WearableStatus; detail?: string }>({ status: "off" });
  const ratingRef = useRef(50);

  useEffect(() => {
    // The NATS client is loaded only here (wearable.js); until it arrives, calls wait for it.
    let device: Wearable | null = null;
    let live = joined.state === "live";
    let closed = false;
    void import("../wearable").then(({ Wearable }) => {
      if (closed) return;
      device = new Wearable(workout.id, joined, (status, detail) => setDeviceState({ status, detail }));
      device.rating = ratingRef.current;
      wearable.current = device;
      void device.connect();
      if (live) device.start();
    });
    const follow = followLive(
      workout.id,
      joined.live_url,
      (event) => {
        switch (event.kind) {
          case "waiting":
            setWaiting(event.data.participants_waiting);
            setStartsAt(event.data.starts_at);
            break;
          case "started":
            setPhase("live");
            live = true;
            device?.start();
            break;
          case "frame":
            setPhase("live");
            setFrame(event.data);
            live = true;
            if (event.data.me) device?.catchUp(event.data.me.energy);
            device?.start();
            break;
          case "rescheduled":
            setStartsAt(event.data.starts_at);
            setNotice(`The trainer moved the class to ${when(event.data.starts_at)}.`);
            break;
          case "cancelled":
            setPhase("cancelled");
            setNotice(`The trainer cancelled the class${event.data.reason ? `: ${event.data.reason}` : "."}`);
            void device?.close();
            break;
          case "ended":
            setPhase("ended");
            void device?.close();
            props.onEnded();
            break;
        }
      },
      (status, err) => {
        setStream(status);
        if (err) setProblem(err);
      },
    );
    return () => {
      closed = true;
      follow.stop();
      void device?.close();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [workout.id]);

  const [rating, setRating] = useState(50);
  const [sent, setSent] = useState(0);
  useEffect(() => {
    const timer = window.setInterval(() => setSent(wearable.current?.sent ?? 0), 1000);
    return () => window.clearInterval(timer);
  }, []);

  return (
    <section class="session">
      <Title>
        {workout.title}: {phase === "waiting" ? "waiting room" : phase === "live" ? "live" : phase}
      </Title>
      <p class={`stream stream-${stream}`} role="status" aria-live="polite">
        {stream === "closed" ? "" : STREAM_TEXT[stream]}
      </p>
      {notice && (
        <p class="notice" role="alert">
          {notice}
        </p>
      )}
      <ErrorNote error={problem} />
      {phase === "waiting" && <WaitingRoom startsAt={startsAt} waiting={waiting} />}
      {phase === "live" && <LiveBoard frame={frame} />}
      {(phase === "waiting" || phase === "live") && (
        <section class="panel wearable" aria-labelledby="wearable-title">
          <h2 id="wearable-title">Wearable (in this browser)</h2>
          <p>
            Status: <strong data-testid="wearable-status">{deviceState.status}</strong>
            {deviceState.detail && <span class="muted"> — {deviceState.detail}</span>}
          </p>
          <label for="rating">
            Effort: <strong>{rating}</strong> / 100
          </label>
          <input
            id="rating"
            type="range"
            min={0}
            max={100}
            step={1}
            value={rating}
            onInput={(e) => {
              const value = Number(e.currentTarget.value);
              setRating(value);
              ratingRef.current = value;
              if (wearable.current) wearable.current.rating = value;
            }}
          />
          <p class="muted">
            {phase === "waiting"
              ? "Samples start when the trainer starts the class."
              : `${sent} samples sent, one a second, as ${session.user()?.full_name ?? "you"}.`}
          </p>
        </section>
      )}
      {phase === "cancelled" && (
        <p>
          <Link href="/classes">Find another class</Link>
        </p>
      )}
      {(phase === "waiting" || phase === "live") && (
        <button type="button" class="secondary" onClick={props.onLeave}>
          Leave the class
        </button>
      )}
    </section>
  );
}

function WaitingRoom(props: { startsAt: string; waiting: number | null }) {
  const left = useCountdown(props.startsAt);
  return (
    <div class="waiting">
      <p class="countdown" aria-live="off">
        {left > 0 ? (
          <>
            Starts in <strong>{clock(left)}</strong>
          </>
        ) : (
          "Starting any moment — waiting for the trainer"
        )}
      </p>
      <p aria-live="polite">
        <strong data-testid="waiting-count">{props.waiting ?? "…"}</strong> in the waiting room
      </p>
      <p class="muted">This page moves to the live screen by itself when the trainer starts.</p>
    </div>
  );
}

function clock(seconds: number): string {
  const s = Math.ceil(seconds);
  const m = Math.floor(s / 60);
  return m >= 60 ? duration(s) : `${m}:${String(s % 60).padStart(2, "0")}`;
}

function LiveBoard(props: { frame: Frame | null }) {
  const f = props.frame;
  if (!f) return <p class="muted">Waiting for the first ranking…</p>;
  const me = f.me;
  return (
    <div class="live">
      <div class="mine">
        <p class="rank" aria-label={me ? `Your rank: ${me.rank} of ${f.participants}` : "Not ranked yet"}>
          <span class="rank-number" data-testid="my-rank">
            {me ? `#${me.rank}` : "—"}
          </span>
          <span class="muted"> of {f.participants}</span>
        </p>
        <label class="meter">
          Effort now: <strong>{me?.rating ?? 0}</strong>
          <meter min={0} max={100} low={34} high={67} optimum={100} value={me?.rating ?? 0} />
        </label>
        <p>
          Total energy: <strong data-testid="my-energy">{me?.energy ?? 0}</strong>
        </p>
        <p class="muted">{f.participants} taking part</p>
      </div>
      {f.around.length > 0 && (
        <section aria-labelledby="around-title">
          <h2 id="around-title">Around you</h2>
          <Places places={f.around} mine={me?.rank} />
        </section>
      )}
      <section aria-labelledby="top-title">
        <h2 id="top-title">Top 10</h2>
        <Places places={f.top} mine={me?.rank} />
      </section>
    </div>
  );
}

export function Places(props: { places: Schemas["Place"][]; mine?: number }) {
  return (
    <table class="board">
      <thead>
        <tr>
          <th scope="col">Rank</th>
          <th scope="col">Name</th>
          <th scope="col">Energy</th>
          <th scope="col">Effort</th>
        </tr>
      </thead>
      <tbody>
        {props.places.map((p) => (
          <tr key={p.rank} class={p.rank === props.mine ? "me" : undefined} aria-current={p.rank === props.mine ? "true" : undefined}>
            <td>{p.rank}</td>
            <td>{p.display_name}</td>
            <td>{p.energy}</td>
            <td>{p.rating}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
