//! Command-line interface: `cultfit serve`, `cultfit migrate`, `cultfit simulate`.
//!
//! Every option can also come from the environment (names in API.md), so the same binary runs
//! under a process manager, in tests and by hand.

use crate::config::{Roles, ServeConfig};
use crate::limits::{LimitsConfig, QuotaSpec, TrustedProxies};
use crate::telemetry::LogFormat;
use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/cultfit";

/// Backend for live group workouts.
#[derive(Debug, Parser)]
#[command(name = "cultfit", version, about)]
pub struct Cli {
    /// Log format; `pretty` is the default with `serve --dev`, `json` otherwise.
    #[arg(long, env = "CULTFIT_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log format to use: explicit, else pretty for local development, else JSON.
    pub fn log_format(&self) -> LogFormat {
        match (&self.log_format, &self.command) {
            (Some(format), _) => *format,
            (None, Command::Serve(args)) if args.dev => LogFormat::Pretty,
            (None, Command::Simulate(_) | Command::SimulateShard(_) | Command::NatsConfig(_)) => {
                LogFormat::Pretty
            }
            (None, _) => LogFormat::Json,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (HTTP facade and/or actor worker).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(MigrateArgs),
    /// Drive a realistic live session against a running service and report what it measured.
    Simulate(crate::simulate::SimulateArgs),
    /// Print the nats-server configuration of the locked bus; create the secrets file if missing.
    NatsConfig(crate::bus::server_config::NatsConfigArgs),
    /// One wearable process of `cultfit simulate`, which starts it (instructions on stdin).
    #[command(hide = true)]
    SimulateShard(crate::simulate::shards::child::ShardArgs),
}

/// Options of `cultfit serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// PostgreSQL connection URL; the database is created if missing.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// NATS server(s), comma separated.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// The bus secrets file from `cultfit nats-config`: the service's NATS credentials and the
    /// auth callout's keys. Required unless `--insecure-bus`.
    #[arg(long, env = "CULTFIT_NATS_SECRETS")]
    pub nats_secrets: Option<std::path::PathBuf>,
    /// Development only: run on a NATS server that requires no credentials (anyone could forge
    /// actor commands there) and without the auth callout.
    #[arg(long)]
    pub insecure_bus: bool,
    /// The NATS URL(s) wearables are told to connect to in `join`; by default `NATS_URL`.
    #[arg(long, env = "CULTFIT_PUBLIC_NATS_URL")]
    pub public_nats_url: Option<String>,
    /// The NATS WebSocket URL `join` gives browser wearables (e.g. `wss://bus.example.com`);
    /// `join` says null without it.
    #[arg(long, env = "CULTFIT_PUBLIC_NATS_WS_URL")]
    pub public_nats_ws_url: Option<String>,
    /// HTTP listen address (port 0 picks a free port; the chosen one is logged).
    #[arg(long, env = "CULTFIT_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Roles of this node: `all`, or a comma list of `api`, `worker`.
    #[arg(long = "role", env = "CULTFIT_ROLES", default_value = "all")]
    pub roles: Roles,
    /// HMAC key for access tokens, at least 32 bytes. Required unless `--dev`.
    #[arg(long, env = "CULTFIT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Local development: generate a throwaway JWT secret if none is set, pretty logs.
    #[arg(long)]
    pub dev: bool,
    /// Do not apply migrations at start.
    #[arg(long)]
    pub no_migrate: bool,
    /// Most PostgreSQL connections this node opens.
    #[arg(long, env = "CULTFIT_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// This node's id in placement (heartbeats, leases); a fresh UUID by default.
    #[arg(long, env = "CULTFIT_NODE_ID")]
    pub node_id: Option<String>,
    /// Actor lease time-to-live in seconds: how long a dead worker's actors stay unreachable
    /// before another worker takes over. Every node must use the same value.
    #[arg(long, env = "CULTFIT_LEASE_TTL_SECS", default_value_t = 6, value_parser = clap::value_parser!(u64).range(2..=120))]
    pub lease_ttl_secs: u64,
    /// How many minutes before its start a trainer may start a workout.
    #[arg(long, env = "CULTFIT_START_WINDOW_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u32).range(0..=1440))]
    pub start_window_minutes: u32,
    /// How long after its scheduled end a live workout is ended automatically, in seconds.
    #[arg(long, env = "CULTFIT_AUTO_END_GRACE_SECS", default_value_t = 600)]
    pub auto_end_grace_secs: u32,
    /// How often a live workout ranks its participants and publishes a frame, in milliseconds.
    #[arg(long, env = "CULTFIT_TICK_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub tick_ms: u64,
    /// How often a live workout snapshots its board into the `snapshots` bucket, in seconds, so a
    /// new owner replays only the samples since (0: never; a new owner replays the whole session).
    #[arg(long, env = "CULTFIT_SNAPSHOT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub snapshot_secs: u64,
    /// How long the ENERGY stream keeps raw samples, in hours (every node must agree; the first
    /// to start creates the stream).
    #[arg(long, env = "CULTFIT_ENERGY_RETENTION_HOURS", default_value_t = 72, value_parser = clap::value_parser!(u64).range(1..=8760))]
    pub energy_retention_hours: u64,
    /// Replicas of the JetStream streams and KV buckets: 1 on one NATS server, 3 on a
    /// three-server cluster (every node must agree; the first to start creates them).
    #[arg(long, env = "CULTFIT_NATS_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub nats_replicas: u8,
    /// Replicas of the ENERGY stream alone (default: `--nats-replicas`). 1 on a cluster trades
    /// the samples' survival of a server loss for a third of the storage work per sample: each
    /// server then only routes samples to the stream's one leader.
    #[arg(long, env = "CULTFIT_ENERGY_REPLICAS", value_parser = clap::value_parser!(u8).range(1..=5))]
    pub energy_replicas: Option<u8>,
    /// Register, login and refresh requests per client address: `<count>/<s|m|h>`, a burst of
    /// `count` refilled evenly over the period.
    #[arg(long, env = "CULTFIT_LIMIT_AUTH_PER_ADDRESS", default_value = "300/s")]
    pub limit_auth_per_address: QuotaSpec,
    /// Energy ingest and live-ticket requests per client address (`<count>/<s|m|h>`).
    #[arg(long, env = "CULTFIT_LIMIT_LIVE_PER_ADDRESS", default_value = "3000/s")]
    pub limit_live_per_address: QuotaSpec,
    /// Energy ingest and live-ticket requests per signed-in user (`<count>/<s|m|h>`).
    #[arg(long, env = "CULTFIT_LIMIT_LIVE_PER_USER", default_value = "20/s")]
    pub limit_live_per_user: QuotaSpec,
    /// Failed logins per account (`<count>/<s|m|h>`); the failure after them locks the account
    /// until the next one is allowed.
    #[arg(long, env = "CULTFIT_LIMIT_FAILED_LOGINS", default_value = "10/m")]
    pub limit_failed_logins: QuotaSpec,
    /// Proxies whose `X-Forwarded-For` names the client: a comma list of IPs and CIDRs. Empty:
    /// the TCP peer is the client.
    #[arg(long, env = "CULTFIT_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<TrustedProxies>,
}

impl ServeArgs {
    /// Validate the options into a [`ServeConfig`].
    pub fn into_config(self) -> anyhow::Result<ServeConfig> {
        let jwt_secret = match (self.jwt_secret, self.dev) {
            (Some(secret), _) if secret.len() >= 32 => secret.into_bytes(),
            (Some(_), _) => bail!("CULTFIT_JWT_SECRET must be at least 32 bytes long"),
            (None, true) => {
                tracing::warn!("no CULTFIT_JWT_SECRET set: using a throwaway secret (--dev)");
                crate::auth::tokens::random_secret()
            }
            (None, false) => {
                bail!("CULTFIT_JWT_SECRET is required (at least 32 bytes) unless --dev")
            }
        };
        let nats_urls = crate::bus::connect::parse_urls(&self.nats_url)?;
        let bus = crate::bus::connect::BusAccess {
            secrets: self
                .nats_secrets
                .as_deref()
                .map(crate::bus::secrets::BusSecrets::load)
                .transpose()?,
            insecure: self.insecure_bus,
        };
        match (&bus.secrets, bus.insecure) {
            (None, false) => bail!(
                "CULTFIT_NATS_SECRETS (--nats-secrets) is required: the bus secrets file that \
                 `cultfit nats-config` creates. For development on an open NATS server only, pass \
                 --insecure-bus"
            ),
            (None, true) => tracing::warn!(
                "INSECURE BUS (--insecure-bus): no NATS credentials and no auth callout; anyone \
                 who reaches the NATS server can forge commands and read every frame. Never use \
                 this in production"
            ),
            (Some(_), true) => tracing::warn!(
                "--insecure-bus: this node also accepts a NATS server that requires no \
                 authentication. Never use this in production"
            ),
            (Some(_), false) => {}
        }
        let public_nats_url = self
            .public_nats_url
            .unwrap_or_else(|| self.nats_url.clone());
        let node_id = self
            .node_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if node_id.is_empty()
            || !node_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("CULTFIT_NODE_ID may only contain letters, digits, '-' and '_'");
        }
        Ok(ServeConfig {
            database_url: self.database_url,
            nats_urls,
            bus,
            public_nats_url,
            public_nats_ws_url: self.public_nats_ws_url.filter(|url| !url.is_empty()),
            http_addr: self.http_addr,
            roles: self.roles,
            jwt_secret,
            migrate: !self.no_migrate,
            db_max_connections: self.db_max_connections,
            node_id,
            lease_ttl: std::time::Duration::from_secs(self.lease_ttl_secs),
            start_window: chrono::TimeDelta::minutes(i64::from(self.start_window_minutes)),
            auto_end_grace: chrono::TimeDelta::seconds(i64::from(self.auto_end_grace_secs)),
            tick: std::time::Duration::from_millis(self.tick_ms),
            snapshot_every: (self.snapshot_secs > 0)
                .then(|| std::time::Duration::from_secs(self.snapshot_secs)),
            energy_retention: std::time::Duration::from_secs(self.energy_retention_hours * 3600),
            nats_replicas: usize::from(self.nats_replicas),
            energy_replicas: usize::from(self.energy_replicas.unwrap_or(self.nats_replicas)),
            limits: LimitsConfig {
                auth_per_address: self.limit_auth_per_address,
                live_per_address: self.limit_live_per_address,
                live_per_user: self.limit_live_per_user,
                failed_logins: self.limit_failed_logins,
                trusted_proxies: self.trusted_proxies.unwrap_or_default(),
            },
        })
    }
}

/// Options of `cultfit migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL connection URL; the database is created if missing.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> anyhow::Result<ServeConfig> {
        let mut argv = vec![
            "cultfit",
            "serve",
            "--jwt-secret",
            "0123456789abcdef0123456789abcdef",
        ];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Serve(args) => args.into_config(),
            _ => bail!("not serve"),
        }
    }

    #[test]
    fn serve_needs_the_bus_secrets_unless_the_bus_is_declared_insecure() {
        // The environment of the test runner must not decide the outcome.
        let without = serve(&["--nats-url", "nats://127.0.0.1:4222"]);
        if std::env::var_os("CULTFIT_NATS_SECRETS").is_none() {
            let err = without.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("CULTFIT_NATS_SECRETS"), "{err}");
        }
        let insecure = serve(&["--insecure-bus"]).unwrap();
        assert!(insecure.bus.insecure);
        let missing = serve(&["--nats-secrets", "/nonexistent/cultfit-secrets.env"]);
        assert!(
            missing.is_err(),
            "an unreadable secrets file stops the start"
        );
    }
}
