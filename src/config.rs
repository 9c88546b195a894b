//! Validated runtime configuration of a node.

use anyhow::bail;
use std::net::SocketAddr;
use std::str::FromStr;

/// Everything `cultfit serve` needs, checked and parsed.
pub struct ServeConfig {
    /// PostgreSQL connection URL.
    pub database_url: String,
    /// NATS servers to connect to.
    pub nats_urls: Vec<async_nats::ServerAddr>,
    /// How this node authenticates to NATS.
    pub bus: crate::bus::connect::BusAccess,
    /// The NATS URL(s) `join` gives wearables.
    pub public_nats_url: String,
    /// The NATS WebSocket URL `join` gives browser wearables, if the bus has a listener for them.
    pub public_nats_ws_url: Option<String>,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// Which roles this node plays.
    pub roles: Roles,
    /// HMAC key for access tokens.
    pub jwt_secret: Vec<u8>,
    /// Apply migrations at start.
    pub migrate: bool,
    /// Most PostgreSQL connections this node opens.
    pub db_max_connections: u32,
    /// This node's id in placement.
    pub node_id: String,
    /// Actor lease time-to-live.
    pub lease_ttl: std::time::Duration,
    /// How long before its start a workout may be started.
    pub start_window: chrono::TimeDelta,
    /// Grace after a workout's scheduled end before it is ended automatically.
    pub auto_end_grace: chrono::TimeDelta,
    /// How often a live workout publishes a ranking frame.
    pub tick: std::time::Duration,
    /// How often a live workout snapshots its board; `None`: never.
    pub snapshot_every: Option<std::time::Duration>,
    /// How long the ENERGY stream keeps raw samples.
    pub energy_retention: std::time::Duration,
    /// Replicas of the streams and KV buckets this node creates.
    pub nats_replicas: usize,
    /// Replicas of the ENERGY stream.
    pub energy_replicas: usize,
    /// Rate limits on the public HTTP edges.
    pub limits: crate::limits::LimitsConfig,
}

impl std::fmt::Debug for ServeConfig {
    // Hand-written so the secret can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("nats_urls", &self.nats_urls)
            .field("bus", &self.bus)
            .field("public_nats_url", &self.public_nats_url)
            .field("public_nats_ws_url", &self.public_nats_ws_url)
            .field("http_addr", &self.http_addr)
            .field("roles", &self.roles)
            .field("migrate", &self.migrate)
            .field("node_id", &self.node_id)
            .field("lease_ttl", &self.lease_ttl)
            .field("tick", &self.tick)
            .field("snapshot_every", &self.snapshot_every)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The roles a node plays: the HTTP facade (`api`), the actor host (`worker`), or both (`all`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    /// Serves the public HTTP API.
    pub api: bool,
    /// Hosts actors.
    pub worker: bool,
}

impl FromStr for Roles {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut roles = Roles {
            api: false,
            worker: false,
        };
        for part in s.split(',').map(str::trim) {
            match part {
                "all" => {
                    roles = Roles {
                        api: true,
                        worker: true,
                    }
                }
                "api" => roles.api = true,
                "worker" => roles.worker = true,
                other => bail!("unknown role {other:?}: expected all, api or worker"),
            }
        }
        Ok(roles)
    }
}

#[cfg(test)]
mod tests {
    use super::Roles;

    #[test]
    fn roles_parse_single_lists_and_all() {
        let parse = |s: &str| s.parse::<Roles>().ok();
        assert_eq!(
            parse("all"),
            Some(Roles {
                api: true,
                worker: true
            })
        );
        assert_eq!(
            parse("api"),
            Some(Roles {
                api: true,
                worker: false
            })
        );
        assert_eq!(
            parse("worker"),
            Some(Roles {
                api: false,
                worker: true
            })
        );
        assert_eq!(
            parse("api, worker"),
            Some(Roles {
                api: true,
                worker: true
            })
        );
        assert_eq!(parse("gateway"), None);
        assert_eq!(parse(""), None);
    }
}
