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

/// Options shared by every service connection: a name, a short ping interval (a dead link must be
/// noticed in seconds: leases depend on it), connection events in the log.
fn options(access: &BusAccess, name: &str) -> async_nats::ConnectOptions {
    let options = async_nats::ConnectOptions::new()
        .name(name)
        .ping_interval(Duration::from_secs(5))
        .event_callback(|event| async move {
            tracing::info!(nats.event = %event, "nats connection event")
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
