// Upcoming classes with filters (type, from, to), soonest first.
import { useState } from "preact/hooks";
import { call, client, type Workout, type WorkoutType } from "../api/client";
import { Link } from "../router";
import { ErrorNote, Loading, StateBadge, Title, WORKOUT_TYPES, useAction, useLoad, when } from "../ui";

interface Filters {
  type: string;
  from: string;
  to: string;
}

function page(filters: Filters, cursor?: string) {
  const query = {
    type: (filters.type || undefined) as WorkoutType | undefined,
    from: filters.from ? new Date(`${filters.from}T00:00`).toISOString() : undefined,
    to: filters.to ? new Date(`${filters.to}T23:59:59`).toISOString() : undefined,
    cursor,
  };
  return call(() => client.GET("/api/v1/workouts", { params: { query } }));
}

export function Classes() {
  const [filters, setFilters] = useState<Filters>({ type: "", from: "", to: "" });
  const list = useLoad(() => page(filters), [filters]);
  const more = useAction();
  const set = (field: keyof Filters) => (e: { currentTarget: { value: string } }) =>
    setFilters({ ...filters, [field]: e.currentTarget.value });

  return (
    <section>
      <Title>Upcoming classes</Title>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Type
          <select value={filters.type} onChange={set("type")}>
            <option value="">Any</option>
            {WORKOUT_TYPES.map((t) => (
              <option value={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          From
          <input type="date" value={filters.from} onChange={set("from")} />
        </label>
        <label>
          To
          <input type="date" value={filters.to} onChange={set("to")} />
        </label>
      </form>
      <ErrorNote error={list.error ?? more.error} />
      {!list.data && !list.error && <Loading what="classes" />}
      {list.data && list.data.items.length === 0 && <p>No classes match. Try other filters.</p>}
      {list.data && (
        <ul class="cards">
          {list.data.items.map((w) => (
            <ClassCard workout={w} href={`/classes/${w.id}`} key={w.id} />
          ))}
        </ul>
      )}
      {list.data?.next_cursor && (
        <button
          type="button"
          disabled={more.busy}
          onClick={() =>
            void more.run(async () => {
              const next = await page(filters, list.data!.next_cursor!);
              list.setData({ items: [...list.data!.items, ...next.items], next_cursor: next.next_cursor });
            })
          }
        >
          Show more
        </button>
      )}
    </section>
  );
}

export function ClassCard(props: { workout: Workout; href: string }) {
  const w = props.workout;
  const full = w.booked_count >= w.capacity;
  return (
    <li class="card">
      <Link href={props.href}>
        <span class="card-title">{w.title}</span>
      </Link>
      <span class="muted">
        {w.type} · {w.trainer.full_name} · {when(w.starts_at)} · {w.duration_minutes} min
      </span>
      <span>
        <StateBadge state={w.state} /> {w.booked_count}/{w.capacity} booked
        {w.waitlist_count > 0 && `, ${w.waitlist_count} waiting`}
        {full && w.state === "scheduled" && " · full (waitlist open)"}
      </span>
    </li>
  );
}
