// A trainee's results: rank, energy, calories, active time, the per-minute effort chart, the
// class ranking, and the feedback form.
import { useState } from "preact/hooks";
import { call, client } from "../api/client";
import { Link } from "../router";
import { ErrorNote, Loading, Title, duration, useAction, useLoad } from "../ui";

export function Results(props: { id: string }) {
  const path = { params: { path: { id: props.id } } };
  const workout = useLoad(() => call(() => client.GET("/api/v1/workouts/{id}", path)), [props.id]);
  const mine = useLoad(() => call(() => client.GET("/api/v1/workouts/{id}/results/me", path)), [props.id]);
  const ranking = useLoad(() => call(() => client.GET("/api/v1/workouts/{id}/results", path)), [props.id]);
  const r = mine.data;
  return (
    <section>
      <Title>Results{workout.data ? `: ${workout.data.title}` : ""}</Title>
      <ErrorNote error={mine.error} />
      {!r && !mine.error && <Loading what="your results" />}
      {r && (
        <>
          <dl class="stats">
            <div>
              <dt>Rank</dt>
              <dd data-testid="result-rank">
                #{r.rank} <span class="muted">of {r.participants}</span>
              </dd>
            </div>
            <div>
              <dt>Energy</dt>
              <dd>{r.energy}</dd>
            </div>
            <div>
              <dt>Calories</dt>
              <dd>{Math.round(r.calories)} kcal</dd>
            </div>
            <div>
              <dt>Active time</dt>
              <dd>{duration(r.active_seconds)}</dd>
            </div>
          </dl>
          <MinuteChart perMinute={r.per_minute} />
        </>
      )}
      <Feedback id={props.id} />
      {ranking.data && ranking.data.items.length > 0 && (
        <section aria-labelledby="ranking-title">
          <h2 id="ranking-title">Final ranking</h2>
          <table class="board">
            <thead>
              <tr>
                <th scope="col">Rank</th>
                <th scope="col">Name</th>
                <th scope="col">Energy</th>
                <th scope="col">kcal</th>
              </tr>
            </thead>
            <tbody>
              {ranking.data.items.map((e) => (
                <tr key={e.rank}>
                  <td>{e.rank}</td>
                  <td>{e.display_name}</td>
                  <td>{e.energy}</td>
                  <td>{Math.round(e.calories)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <p>
        <Link href="/history">Your history</Link> · <Link href="/classes">Classes</Link>
      </p>
    </section>
  );
}

/** Average effort per minute as bars; the numbers are in the table beside it for screen readers. */
function MinuteChart(props: { perMinute: number[] }) {
  const values = props.perMinute;
  if (values.length === 0) return <p class="muted">No effort was recorded.</p>;
  const width = Math.max(240, values.length * 28);
  const bar = width / values.length;
  return (
    <figure class="chart">
      <figcaption>Average effort per minute (0–100)</figcaption>
      <svg viewBox={`0 0 ${width} 110`} role="img" aria-label={`Effort per minute: ${values.map((v) => Math.round(v)).join(", ")}`}>
        <line x1="0" y1="100" x2={width} y2="100" class="axis" />
        {values.map((v, i) => (
          <rect x={i * bar + 3} y={100 - v} width={bar - 6} height={Math.max(v, 0.5)} class="bar">
            <title>
              Minute {i + 1}: {Math.round(v)}
            </title>
          </rect>
        ))}
      </svg>
      <table class="sr-only">
        <caption>Effort per minute</caption>
        <tbody>
          {values.map((v, i) => (
            <tr>
              <th scope="row">Minute {i + 1}</th>
              <td>{Math.round(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

function Feedback(props: { id: string }) {
  const [rating, setRating] = useState(0);
  const [comment, setComment] = useState("");
  const [sent, setSent] = useState(false);
  const action = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      await call(() =>
        client.POST("/api/v1/workouts/{id}/feedback", {
          params: { path: { id: props.id } },
          body: { rating, comment: comment || null },
        }),
      );
      setSent(true);
    });
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="feedback-title">
      <h2 id="feedback-title">How was the class?</h2>
      <fieldset class="stars">
        <legend>Your rating</legend>
        {[1, 2, 3, 4, 5].map((n) => (
          <label class="inline">
            <input type="radio" name="rating" value={n} checked={rating === n} onChange={() => setRating(n)} required />
            {n}
          </label>
        ))}
      </fieldset>
      <label>
        Comment (optional)
        <textarea rows={3} maxLength={2000} value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
      </label>
      <ErrorNote error={action.error} />
      <button type="submit" disabled={action.busy}>
        {sent ? "Update feedback" : "Send feedback"}
      </button>
      {sent && (
        <p class="notice" role="status">
          Thank you — your feedback was sent.
        </p>
      )}
    </form>
  );
}
