// A class for a trainee: details, book / cancel / waitlist position, then the session itself
// (waiting room → live screen with the browser wearable → results).
import { useState } from "preact/hooks";
import { ApiError, call, client, type Schemas } from "../api/client";
import { Link, navigate } from "../router";
import { ErrorNote, Loading, StateBadge, Title, useAction, useLoad, when } from "../ui";
import { LiveSession } from "./LiveSession";

type Booking = Schemas["BookingView"];
type Joined = Schemas["JoinView"];

async function myBooking(id: string): Promise<Booking | null> {
  try {
    return await call(() => client.GET("/api/v1/workouts/{id}/registrations/me", { params: { path: { id } } }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

export function ClassPage(props: { id: string }) {
  const id = props.id;
  const path = { params: { path: { id } } };
  const workout = useLoad(() => call(() => client.GET("/api/v1/workouts/{id}", path)), [id]);
  const booking = useLoad(() => myBooking(id), [id]);
  const [joined, setJoined] = useState<Joined | null>(null);
  const action = useAction();

  const w = workout.data;
  if (workout.error) return <ErrorNote error={workout.error} />;
  if (!w) return <Loading what="the class" />;
  const b = booking.data;
  const holds = b && b.status !== "cancelled";

  const book = () =>
    action.run(async () => {
      booking.setData(await call(() => client.POST("/api/v1/workouts/{id}/registrations", path)));
      workout.reload();
    });
  const cancel = () =>
    action.run(async () => {
      await call(() => client.DELETE("/api/v1/workouts/{id}/registrations/me", path));
      booking.reload();
      workout.reload();
    });
  const join = () =>
    action.run(async () => {
      setJoined(await call(() => client.POST("/api/v1/workouts/{id}/join", path)));
    });

  if (joined) {
    return (
      <LiveSession
        workout={w}
        joined={joined}
        onEnded={() => navigate(`/classes/${id}/results`, true)}
        onLeave={() =>
          void action.run(async () => {
            await call(() => client.POST("/api/v1/workouts/{id}/leave", path));
            setJoined(null);
            workout.reload();
          })
        }
      />
    );
  }

  return (
    <section>
      <Title>{w.title}</Title>
      <p>
        <StateBadge state={w.state} /> {w.type} with {w.trainer.full_name}
      </p>
      <dl class="facts">
        <dt>Starts</dt>
        <dd>{when(w.starts_at)}</dd>
        <dt>Duration</dt>
        <dd>{w.duration_minutes} min</dd>
        <dt>Places</dt>
        <dd>
          {w.booked_count} of {w.capacity} booked{w.waitlist_count > 0 && `, ${w.waitlist_count} on the waitlist`}
        </dd>
      </dl>
      {w.description && <p class="description">{w.description}</p>}
      <ErrorNote error={action.error ?? booking.error} />
      <div class="booking" aria-live="polite">
        {b?.status === "booked" && <p class="notice">You have a place in this class.</p>}
        {b?.status === "waitlisted" && (
          <p class="notice">
            You are number <strong>{b.waitlist_position}</strong> on the waitlist. You get a place when someone cancels.
          </p>
        )}
        {b?.status === "cancelled" && <p class="muted">You cancelled your booking.</p>}
      </div>
      <div class="actions">
        {w.state === "scheduled" && !holds && (
          <button type="button" onClick={() => void book()} disabled={action.busy}>
            {w.booked_count >= w.capacity ? "Join the waitlist" : "Book a place"}
          </button>
        )}
        {b?.status === "booked" && (w.state === "scheduled" || w.state === "live") && (
          <button type="button" class="primary" onClick={() => void join()} disabled={action.busy}>
            {w.state === "live" ? "Join the live class" : "Enter the waiting room"}
          </button>
        )}
        {holds && w.state === "scheduled" && (
          <button type="button" class="secondary" onClick={() => void cancel()} disabled={action.busy}>
            {b?.status === "waitlisted" ? "Leave the waitlist" : "Cancel my booking"}
          </button>
        )}
        {w.state === "ended" && <Link href={`/classes/${id}/results`}>See the results</Link>}
      </div>
      <p>
        <Link href="/classes">← All classes</Link>
      </p>
    </section>
  );
}
