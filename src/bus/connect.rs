//! How a node (or a tool) connects to the bus as the service.
//!
//! With the secrets file, it logs in as the service user of account `CULTFIT`. It refuses to run
//! on a bus that rejects those credentials, and on a bus that asks for no credentials at all (an
//! open server: anyone could forge actor commands there), unless told `--insecure-bus`.

use super::secrets::BusSecrets;
use anyhow::{Context, bail};
use async_nats::{ConnectErrorKind, ServerAddr};
use std::time::Duration;

/// How this process authenticates to the bus.
#[derive(Debug)]
pub struct BusAccess {
    /// The service secrets; `None` connects without credentials.
    pub secrets: Option<BusSecrets>,
    /// Accept a server that requires no authentication (`--insecure-bus`, development only).
    pub insecure: bool,
}

/// `NATS_URL`: one or more server URLs, comma separated.
pub fn parse_urls(urls: &str) -> anyhow::Result<Vec<ServerAddr>> {
    urls.split(',')
        .map(|url| url.trim().parse::<ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .context("NATS_URL is not a valid list of NATS server addresses")
}

/// Counter: this node's NATS connection events, by `event` (`connected` after a reconnect,
/// `disconnected`, `slow_consumer`, ...).
pub const NATS_EVENTS: &str = "cultfit_nats_connection_events_total";

/// The longest a service waits between reconnect attempts. The client's default backs off to 4 s,
/// which after a 3 s server restart leaves frames stopped for up to 4 s more; a handful of service
/// connections retrying twice a second costs the server nothing.
const SERVICE_RECONNECT_CAP: Duration = Duration::from_millis(500);

/// Delay before reconnect attempt `attempts` (1-based): at once, then doubling from 50 ms to `cap`.
pub fn reconnect_delay(attempts: usize, cap: Duration) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(16);
    (Duration::from_millis(50) * 2u32.pow(doublings)).min(cap)
}

/// Options shared by every service connection: a name, a short ping interval (a dead link must be
/// noticed in seconds: leases depend on it), fast reconnects, connection events in the log.
fn options(access: &BusAccess, name: &str) -> async_nats::ConnectOptions {
    let options = async_nats::ConnectOptions::new()
        .name(name)
        .ping_interval(Duration::from_secs(5))
        .reconnect_delay_callback(|attempts| reconnect_delay(attempts, SERVICE_RECONNECT_CAP))
        .event_callback(|event| async move {
            tracing::info!(nats.event = %event, "nats connection event");
            let kind = match event {
                async_nats::Event::Connected => "connected",
                async_nats::Event::Disconnected => "disconnected",
                async_nats::Event::LameDuckMode => "lame_duck",
                async_nats::Event::Draining => "draining",
                async_nats::Event::Closed => "closed",
                async_nats::Event::SlowConsumer(_) => "slow_consumer",
                async_nats::Event::ServerError(_) => "server_error",
                async_nats::Event::ClientError(_) => "client_error",
            };
            metrics::counter!(NATS_EVENTS, "event" => kind).increment(1);
        });
    match &access.secrets {
        Some(secrets) => options.user_and_password(secrets.user.clone(), secrets.password.clone()),
        None => options,
    }
}

/// Connect as the service. When no server answers yet, keep trying in the background (readiness
/// reports it meanwhile) and check the bus once connected.
pub async fn connect(
    urls: &[ServerAddr],
    access: &BusAccess,
    name: &str,
) -> anyhow::Result<async_nats::Client> {
    match options(access, name).connect(urls).await {
        Ok(client) => {
            check_locked(&client, access)?;
            Ok(client)
        }
        Err(err)
            if matches!(
                err.kind(),
                ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication
            ) =>
        {
            match access.secrets {
                Some(_) => bail!(
                    "NATS refused the service credentials from the bus secrets file: is this \
                     server configured by `cultfit nats-config` with the same file? ({err})"
                ),
                None => bail!(
                    "NATS requires credentials: set CULTFIT_NATS_SECRETS to the bus secrets file \
                     ({err})"
                ),
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "NATS is unreachable; connecting in the background");
            let client = options(access, name)
                .retry_on_initial_connect()
                .connect(urls)
                .await
                .context("failed to connect to NATS")?;
            let insecure = access.insecure;
            let watched = client.clone();
            tokio::spawn(async move {
                while watched.connection_state() != async_nats::connection::State::Connected {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                if !insecure && !watched.server_info().auth_required {
                    // The same refusal as at start, only later: do not serve on an open bus.
                    tracing::error!("{OPEN_BUS}");
                    std::process::exit(1);
                }
            });
            Ok(client)
        }
    }
}

const OPEN_BUS: &str = "the NATS server requires no authentication: anyone can connect to it \
    and forge commands. Run nats-server with the config from `cultfit nats-config`, or pass \
    --insecure-bus (development only)";

fn check_locked(client: &async_nats::Client, access: &BusAccess) -> anyhow::Result<()> {
    if !access.insecure && !client.server_info().auth_required {
        bail!("{OPEN_BUS}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_start_at_once_then_double_up_to_the_cap() {
        let cap = Duration::from_millis(500);
        let delays: Vec<u128> = (1..=8)
            .map(|n| reconnect_delay(n, cap).as_millis())
            .collect();
        assert_eq!(delays, [0, 50, 100, 200, 400, 500, 500, 500]);
        assert_eq!(reconnect_delay(usize::MAX, cap), cap);
    }
}
