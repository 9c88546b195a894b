// The signed-in session: tokens kept in sessionStorage (one session per browser tab, so a
// trainer and a trainee can share one browser in two windows), refreshed silently before the
// access token expires and once more when the service refuses it. Refresh tokens rotate and a
// reused one revokes the session, so only one refresh is ever in flight.
import type { components } from "./api/schema";

export type User = components["schemas"]["UserView"];
type SessionBody = components["schemas"]["Session"];

interface Stored {
  user: User;
  access: string;
  refresh: string;
  expiresAt: number;
}

const KEY = "cultfit.session";
/** Refresh this long before the access token expires. */
const EARLY_MS = 60_000;

class SessionStore {
  private stored: Stored | null = null;
  private listeners = new Set<() => void>();
  private refreshing: Promise<boolean> | null = null;
  private timer: number | undefined;
  /** Why the last session ended, shown on the sign-in page. */
  endedBecause: string | null = null;

  constructor() {
    try {
      const raw = sessionStorage.getItem(KEY);
      this.stored = raw ? (JSON.parse(raw) as Stored) : null;
    } catch {
      this.stored = null;
    }
    this.schedule();
  }

  user(): User | null {
    return this.stored?.user ?? null;
  }

  accessToken(): string | null {
    return this.stored?.access ?? null;
  }

  canRefresh(): boolean {
    return this.stored !== null;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Keeps a session from `register`, `login` or `refresh`. */
  start(body: SessionBody): void {
    this.endedBecause = null;
    this.save({
      user: body.user,
      access: body.access_token,
      refresh: body.refresh_token,
      expiresAt: Date.now() + body.expires_in * 1000,
    });
  }

  /** Exchanges the refresh token for a new pair; false (and signed out) when refused. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const current = this.stored;
    if (!current) return false;
    let response: Response;
    try {
      response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refresh }),
      });
    } catch {
      // Unreachable (restarting?): keep the tokens and try again later.
      this.schedule(5_000);
      return false;
    }
    if (response.ok) {
      this.start((await response.json()) as SessionBody);
      return true;
    }
    if (response.status === 401) {
      this.end("Your session has ended (signed out elsewhere, or the service restarted). Please sign in again.");
    } else {
      this.schedule(5_000);
    }
    return false;
  }

  /** Signs out here and, best effort, at the service. */
  async logout(): Promise<void> {
    const current = this.stored;
    this.end(null);
    if (current) {
      await fetch("/api/v1/auth/logout", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${current.access}` },
        body: JSON.stringify({ refresh_token: current.refresh }),
      }).catch(() => undefined);
    }
  }

  private end(reason: string | null): void {
    this.endedBecause = reason;
    this.save(null);
  }

  private save(stored: Stored | null): void {
    this.stored = stored;
    if (stored) sessionStorage.setItem(KEY, JSON.stringify(stored));
    else sessionStorage.removeItem(KEY);
    this.schedule();
    for (const listener of this.listeners) listener();
  }

  private schedule(delay?: number): void {
    window.clearTimeout(this.timer);
    if (!this.stored) return;
    const due = delay ?? Math.max(1_000, this.stored.expiresAt - Date.now() - EARLY_MS);
    this.timer = window.setTimeout(() => void this.refresh(), due);
  }
}

export const session = new SessionStore();
