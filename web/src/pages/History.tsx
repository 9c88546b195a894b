// Past classes: a trainee's results with totals, or a trainer's sessions with attendance and
// ratings.
import { call, client } from "../api/client";
import { Link } from "../router";
import { session } from "../session";
import { ErrorNote, Loading, Title, duration, useAction, useLoad, when } from "../ui";

export function History() {
  const trainer = session.user()?.role === "trainer";
  const history = useLoad(() => call(() => client.GET("/api/v1/me/history", { params: { query: { limit: 100 } } })), []);
  const more = useAction();
  const items = history.data?.items ?? [];
  const results = items.flatMap((e) => (e.result ? [e.result] : []));
  const totals = results.reduce(
    (t, r) => ({ energy: t.energy + r.energy, calories: t.calories + r.calories, active: t.active + r.active_seconds }),
    { energy: 0, calories: 0, active: 0 },
  );
  return (
    <section>
      <Title>History</Title>
      <ErrorNote error={history.error ?? more.error} />
      {!history.data && !history.error && <Loading what="your history" />}
      {history.data && items.length === 0 && <p>Nothing yet.</p>}
      {!trainer && results.length > 0 && (
        <dl class="stats" aria-label="Totals">
          <div>
            <dt>Classes</dt>
            <dd data-testid="total-classes">{results.length}</dd>
          </div>
          <div>
            <dt>Energy</dt>
            <dd>{totals.energy}</dd>
          </div>
          <div>
            <dt>Calories</dt>
            <dd>{Math.round(totals.calories)} kcal</dd>
          </div>
          <div>
            <dt>Active time</dt>
            <dd>{duration(totals.active)}</dd>
          </div>
        </dl>
      )}
      {items.length > 0 && (
        <table class="board">
          <thead>
            <tr>
              <th scope="col">Class</th>
              <th scope="col">When</th>
              {trainer ? (
                <>
                  <th scope="col">Booked</th>
                  <th scope="col">Came</th>
                  <th scope="col">Rating</th>
                </>
              ) : (
                <>
                  <th scope="col">Rank</th>
                  <th scope="col">Energy</th>
                  <th scope="col">kcal</th>
                </>
              )}
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.workout.id}>
                <td>
                  <Link href={trainer ? `/console/${e.workout.id}` : `/classes/${e.workout.id}/results`}>{e.workout.title}</Link>
                  {e.workout.state === "cancelled" && <span class="muted"> (cancelled)</span>}
                </td>
                <td>{when(e.workout.starts_at)}</td>
                {trainer ? (
                  <>
                    <td>{e.booked ?? 0}</td>
                    <td>{e.attendance ?? 0}</td>
                    <td>{e.average_rating != null ? `${e.average_rating.toFixed(1)} (${e.feedback_count})` : "—"}</td>
                  </>
                ) : (
                  <>
                    <td>{e.result ? `#${e.result.rank}` : "—"}</td>
                    <td>{e.result?.energy ?? "—"}</td>
                    <td>{e.result ? Math.round(e.result.calories) : "—"}</td>
                  </>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {history.data?.next_cursor && (
        <button
          type="button"
          disabled={more.busy}
          onClick={() =>
            void more.run(async () => {
              const next = await call(() =>
                client.GET("/api/v1/me/history", { params: { query: { limit: 100, cursor: history.data!.next_cursor! } } }),
              );
              history.setData({ items: [...items, ...next.items], next_cursor: next.next_cursor });
            })
          }
        >
          Show older
        </button>
      )}
    </section>
  );
}
