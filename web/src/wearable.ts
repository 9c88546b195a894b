// The browser wearable: publishes energy samples straight onto the bus over the NATS WebSocket
// listener, authenticated by the device token from `join`, exactly as a real wearable does
// (the payload is bus_contracts::v1::energy::Sample: {seq, ts, rating, energy, hr?}).
import { wsconnect, type NatsConnection } from "@nats-io/nats-core";
import type { Schemas } from "./api/client";

type Joined = Schemas["JoinView"];

export type WearableStatus = "off" | "connecting" | "connected" | "reconnecting" | "refused";

/** One sample a second: `rating` held for a second adds `rating` points of energy. */
const PERIOD_MS = 1000;

export class Wearable {
  private nc: NatsConnection | null = null;
  private timer: number | undefined;
  private last = 0;
  private seq: number;
  private energy: number;
  /** The effort the slider sets, 0 to 100. */
  rating = 50;
  sent = 0;

  constructor(
    private readonly workoutId: string,
    private readonly joined: Joined,
    private readonly onStatus: (status: WearableStatus, detail?: string) => void,
  ) {
    // Survives a reload: sequence numbers must keep increasing and energy never goes down.
    const saved = JSON.parse(sessionStorage.getItem(this.key()) ?? "null") as { seq: number; energy: number } | null;
    this.seq = saved?.seq ?? 0;
    this.energy = saved?.energy ?? 0;
  }

  async connect(): Promise<void> {
    const url = this.joined.nats_ws_url;
    if (!url) {
      this.onStatus("refused", "This service has no NATS WebSocket URL configured (CULTFIT_PUBLIC_NATS_WS_URL).");
      return;
    }
    this.onStatus("connecting");
    try {
      this.nc = await wsconnect({
        servers: url.split(",").map((s) => s.trim()),
        token: this.joined.device_token,
        inboxPrefix: this.joined.inbox_prefix,
        name: "cultfit-browser-wearable",
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
      });
    } catch (err) {
      this.onStatus("refused", `The bus refused the wearable: ${(err as Error).message}`);
      return;
    }
    this.onStatus("connected");
    void (async () => {
      for await (const status of this.nc!.status()) {
        if (status.type === "disconnect" || status.type === "reconnecting") this.onStatus("reconnecting");
        if (status.type === "reconnect") this.onStatus("connected");
      }
    })();
    void this.nc.closed().then((err) => this.onStatus(err ? "refused" : "off", err?.message));
  }

  /** What the board already credits us with (after a reload, from the live frame). */
  catchUp(energy: number): void {
    if (energy > this.energy) this.energy = energy;
  }

  /** Starts publishing (call once the workout is live). */
  start(): void {
    if (this.timer !== undefined) return;
    this.last = Date.now();
    this.timer = window.setInterval(() => this.publish(), PERIOD_MS);
  }

  private publish(): void {
    if (!this.nc || this.nc.isClosed()) return;
    const now = Date.now();
    const seconds = Math.min((now - this.last) / 1000, 5);
    this.last = now;
    this.energy += this.rating * seconds;
    this.seq = Math.max(this.seq + 1, now);
    const sample = { seq: this.seq, ts: now, rating: this.rating, energy: Math.round(this.energy * 100) / 100 };
    try {
      this.nc.publish(this.joined.energy_subject, JSON.stringify(sample));
      this.sent += 1;
      sessionStorage.setItem(this.key(), JSON.stringify({ seq: this.seq, energy: this.energy }));
    } catch {
      // Disconnected for a moment: the client buffers while reconnecting; nothing to do.
    }
  }

  async close(): Promise<void> {
    window.clearInterval(this.timer);
    this.timer = undefined;
    const nc = this.nc;
    this.nc = null;
    await nc?.close().catch(() => undefined);
  }

  private key(): string {
    return `cultfit.wearable.${this.workoutId}`;
  }
}
