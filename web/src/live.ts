// Following a workout live over Server-Sent Events. EventSource cannot send headers, so the URL
// carries a short-lived ticket; whenever the stream drops (network, server restart) it is
// reopened with a fresh ticket, backing off up to 10 s, until the workout ends.
import { call, client, type Schemas } from "./api/client";

export type Frame = Schemas["FrameView"];
export interface EndedResult {
  rank: number;
  participants: number;
  energy: number;
  calories: number;
  active_seconds: number;
}
export type LiveEvent =
  | { kind: "waiting"; data: { participants_waiting: number; starts_at: string } }
  | { kind: "started"; data: { at: string | null } }
  | { kind: "frame"; data: Frame }
  | { kind: "ended"; data: { at: string; result: EndedResult | null } }
  | { kind: "cancelled"; data: { reason: string | null } }
  | { kind: "rescheduled"; data: { starts_at: string } };

/** `open` while events flow; `reconnecting` after a drop; `closed` once over or refused. */
export type StreamStatus = "connecting" | "open" | "reconnecting" | "closed";

const KINDS = ["waiting", "started", "frame", "ended", "cancelled", "rescheduled"] as const;
const MAX_BACKOFF_MS = 10_000;

/**
 * Follows `workoutId` until the workout ends or is cancelled, or `stop()` is called.
 * `firstUrl` (from `join`) saves one ticket request.
 */
export function followLive(
  workoutId: string,
  firstUrl: string | null,
  onEvent: (event: LiveEvent) => void,
  onStatus: (status: StreamStatus, problem?: unknown) => void,
): { stop: () => void } {
  let source: EventSource | null = null;
  let stopped = false;
  let done = false;
  let backoff = 500;
  let timer: number | undefined;

  const ticketUrl = async (): Promise<string> => {
    const ticket = await call(() =>
      client.POST("/api/v1/workouts/{id}/live/tickets", { params: { path: { id: workoutId } } }),
    );
    return ticket.live_url;
  };

  const open = (url: string) => {
    if (stopped) return;
    source = new EventSource(url);
    source.onopen = () => {
      backoff = 500;
      onStatus("open");
    };
    for (const kind of KINDS) {
      source.addEventListener(kind, (message) => {
        const event = { kind, data: JSON.parse((message as MessageEvent<string>).data) } as LiveEvent;
        if (kind === "ended" || kind === "cancelled") {
          done = true;
          source?.close();
          onStatus("closed");
        }
        onEvent(event);
      });
    }
    source.onerror = () => {
      source?.close();
      if (stopped || done) return;
      onStatus("reconnecting");
      retry();
    };
  };

  const retry = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(async () => {
      if (stopped) return;
      try {
        open(await ticketUrl());
      } catch (err) {
        const status = (err as { status?: number }).status ?? 0;
        if (status === 401 || status === 403 || status === 404) {
          done = true;
          onStatus("closed", err);
          return;
        }
        retry(); // unreachable or unavailable: keep trying
      }
    }, backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  };

  onStatus("connecting");
  if (firstUrl) open(firstUrl);
  else {
    backoff = 0;
    retry();
    backoff = 500;
  }
  return {
    stop: () => {
      stopped = true;
      window.clearTimeout(timer);
      source?.close();
    },
  };
}
