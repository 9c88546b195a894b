// The service under test: our own locked nats-server (configured by `cultfit nats-config`, with
// the WebSocket listener for browser wearables) and one `cultfit serve` (api + worker) on free
// ports, against a fresh PostgreSQL database named cultfit_test_e2e_* (scripts/test drops such
// leftovers). Everything is stopped and the database dropped by `stop()`.
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { Socket, createServer } from "node:net";
import { join } from "node:path";

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run the browser tests through scripts/browser-test)`);
  return value;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(what, check, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function exited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

export async function startService(runDir) {
  const cultfit = need("CULTFIT_BIN");
  const natsServer = need("CULTFIT_NATS_SERVER_BIN");
  const adminUrl = need("CULTFIT_PG_ADMIN_URL");
  mkdirSync(runDir, { recursive: true });

  const [natsPort, wsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const secrets = join(runDir, "secrets.env");
  const config = execFileSync(cultfit, [
    "nats-config", "--secrets", secrets, "--host", "127.0.0.1", "--port", String(natsPort),
    "--websocket-port", String(wsPort), "--store-dir", join(runDir, "jetstream"),
  ]);
  writeFileSync(join(runDir, "nats.conf"), config, { mode: 0o600 });
  const natsLog = openSync(join(runDir, "nats-server.log"), "a");
  const nats = spawn(natsServer, ["-c", join(runDir, "nats.conf")], { stdio: ["ignore", natsLog, natsLog] });

  const database = `cultfit_test_e2e_${randomBytes(6).toString("hex")}`;
  const env = {
    ...process.env,
    DATABASE_URL: adminUrl.replace(/\/[^/]*$/, `/${database}`),
    NATS_URL: `nats://127.0.0.1:${natsPort}`,
    CULTFIT_NATS_SECRETS: secrets,
    CULTFIT_PUBLIC_NATS_WS_URL: `ws://127.0.0.1:${wsPort}`,
    CULTFIT_HTTP_ADDR: `127.0.0.1:${httpPort}`,
    // Fixed for the run, so sessions and device tokens survive the restart below.
    CULTFIT_JWT_SECRET: randomBytes(32).toString("hex"),
    CULTFIT_LOG_FORMAT: "json",
    RUST_LOG: process.env.RUST_LOG ?? "info",
  };
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  const serveLog = openSync(join(runDir, "cultfit.log"), "a");
  let serve = null;

  const ready = () =>
    waitFor("cultfit /health/ready", async () => (await fetch(`${baseUrl}/health/ready`)).ok);
  const startServe = async () => {
    serve = spawn(cultfit, ["serve"], { env, stdio: ["ignore", serveLog, serveLog] });
    await ready();
  };
  const stopServe = async () => {
    if (!serve) return;
    const child = serve;
    serve = null;
    child.kill("SIGTERM");
    const killed = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited(child);
    clearTimeout(killed);
  };

  await waitFor("nats-server", async () => {
    if (nats.exitCode !== null) throw new Error("nats-server exited; see nats-server.log");
    return new Promise((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => { socket.destroy(); resolve(true); });
      socket.once("error", () => resolve(false));
      socket.connect(natsPort, "127.0.0.1");
    });
  });
  await startServe();

  return {
    baseUrl,
    /** Stops `cultfit serve` (SIGTERM, as an operator would) and starts it again. */
    async restart() {
      await stopServe();
      await startServe();
    },
    async stop() {
      await stopServe();
      nats.kill("SIGTERM");
      await exited(nats);
      try {
        execFileSync("psql", ["-q", "-w", adminUrl, "-c", `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`]);
      } catch {
        // scripts/test drops cultfit_test_* leftovers
      }
    },
  };
}
