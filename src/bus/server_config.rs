//! `cultfit nats-config`: the nats-server configuration of the locked bus (DESIGN §7).
//!
//! Three accounts:
//! - `CULTFIT`: the services. JetStream lives here (every stream and KV bucket). Its one user
//!   logs in with the password from the secrets file and is an `auth_users` entry of the
//!   callout, so services never wait on it.
//! - `DEVICES`: wearables, placed there by the auth callout. `CULTFIT` exports the energy
//!   subjects as a *service* that `DEVICES` imports: what a device publishes there reaches the
//!   `ENERGY` stream, and when the device asks for an acknowledgement (a reply subject in its own
//!   inbox), JetStream's ack finds its way back. Nothing else crosses between the two.
//! - `SYS`: the system account (the callout's requests are server-internal).
//!
//! Every other connection goes to the callout (`$SYS.REQ.USER.AUTH`, answered by the api nodes,
//! see [`super::callout`]). The output is deterministic for a given secrets file and options,
//! so a script can tell whether a running server's configuration changed.

use super::secrets::BusSecrets;
use anyhow::{Context, bail};
use bus_contracts::subjects;
use clap::Args;
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// bcrypt cost of the passwords in the configuration. Only services and routes log in with a
/// password (a handful of connections per node), so the server's cost per login is affordable.
const BCRYPT_COST: u32 = 11;

/// Seconds a connecting client has to authenticate, callout answer included. Generous, so a
/// connect storm queued at the responder is admitted late rather than refused.
const AUTH_TIMEOUT_SECS: u32 = 5;

/// JetStream's `sync_interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum JetStreamSync {
    /// nats-server's default interval.
    Default,
    /// Sync after every write.
    Always,
}

/// Options of `cultfit nats-config`.
#[derive(Debug, Args)]
pub struct NatsConfigArgs {
    /// The bus secrets env file; created (mode 0600) with fresh secrets if it does not exist.
    #[arg(long, env = "CULTFIT_NATS_SECRETS")]
    pub secrets: PathBuf,
    /// Address the server listens on for clients.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: String,
    /// Port for NATS clients (services and wearables).
    #[arg(long, default_value_t = 4222)]
    pub port: u16,
    /// JetStream store directory; by default `jetstream/` next to the secrets file.
    #[arg(long)]
    pub store_dir: Option<PathBuf>,
    /// How often JetStream syncs its files to disk: `default` (nats-server's own, every 2 min:
    /// acknowledged samples may sit in the OS page cache until then, and an OS crash or power cut
    /// loses them) or `always` (fsync after each write, at the ingest cost measured in
    /// docs/BENCHMARKS.md). README, "Durability", says which to choose per deployment.
    #[arg(long, value_enum, default_value_t = JetStreamSync::Default)]
    pub jetstream_sync: JetStreamSync,
    /// Also accept wearables over WebSocket (browsers) on this port: `wss://` with
    /// `--tls-cert`, else plain `ws://` (behind a TLS-terminating proxy in production).
    #[arg(long)]
    pub websocket_port: Option<u16>,
    /// Encrypt the auth callout's requests and answers with the xkey of the secrets file. Worth
    /// it where the services reach NATS over links without TLS; it costs nats-server about
    /// 0.4 ms of CPU per admitted wearable (docs/BENCHMARKS.md, connect storm).
    #[arg(long)]
    pub encrypt_callout: bool,
    /// PEM certificate (chain) for TLS on the client and WebSocket ports; with `--tls-key`.
    /// Wearables send their device tokens over these connections: use TLS in production.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// This server's name; must be unique within a cluster. Default: `cultfit-<port>`.
    #[arg(long)]
    pub server_name: Option<String>,
    /// Name of the NATS cluster this server joins (enables the cluster block).
    #[arg(long, requires = "cluster_port")]
    pub cluster_name: Option<String>,
    /// Port for routes from the other servers of the cluster.
    #[arg(long, requires = "cluster_name")]
    pub cluster_port: Option<u16>,
    /// The other servers' route URLs (`nats-route://host:port`), comma separated. Credentials
    /// are added from the secrets file.
    #[arg(long, value_delimiter = ',', requires = "cluster_name")]
    pub routes: Vec<String>,
}

/// Prints the configuration (creating the secrets file if needed).
pub fn run(args: &NatsConfigArgs) -> anyhow::Result<()> {
    let secrets = BusSecrets::load_or_create(&args.secrets)?;
    print!("{}", render(args, &secrets)?);
    Ok(())
}

/// The configuration text for these options and secrets.
pub fn render(args: &NatsConfigArgs, secrets: &BusSecrets) -> anyhow::Result<String> {
    let store_dir = match &args.store_dir {
        Some(dir) => dir.clone(),
        // Absolute: nats-server resolves a relative one against its working directory.
        None => std::path::absolute(args.secrets.parent().unwrap_or(Path::new(".")))
            .context("cannot resolve the secrets file's directory")?
            .join("jetstream"),
    };
    let server_name = args
        .server_name
        .clone()
        .unwrap_or_else(|| format!("cultfit-{}", args.port));
    let energy = subjects::ENERGY_STREAM_SUBJECTS;
    let (service_account, device_account) = (subjects::SERVICE_ACCOUNT, subjects::DEVICE_ACCOUNT);
    let mut c = String::new();
    // `writeln!` into a String cannot fail; the results are ignored below for that reason.
    let _ = writeln!(
        c,
        "# The locked cultfit bus, generated by `cultfit nats-config` (see the README, Security).\n\
         # Regenerate rather than edit: it is derived from the secrets file, which holds the\n\
         # only copies of the service password and the callout keys.\n\
         server_name: {}\n\
         listen: {}\n\
         max_payload: 1MB\n\
         {}\n\
         jetstream {{\n  store_dir: {}\n{}}}\n",
        quote(&server_name),
        quote(&format!("{}:{}", args.host, args.port)),
        tls_block(args, "").unwrap_or_default(),
        quote(&store_dir.display().to_string()),
        match args.jetstream_sync {
            JetStreamSync::Default => "",
            JetStreamSync::Always => "  sync_interval: always\n",
        },
    );
    let _ = writeln!(
        c,
        "accounts {{\n\
         \x20 # Services: api and worker nodes, the callout responder. Streams and buckets live here.\n\
         \x20 {service_account} {{\n\
         \x20   jetstream: enabled\n\
         \x20   users: [ {{ user: {}, password: {} }} ]\n\
         \x20   exports: [ {{ service: {}, accounts: [ {device_account} ] }} ]\n\
         \x20 }}\n\
         \x20 # Wearables, placed here by the auth callout: each may publish its own energy subject\n\
         \x20 # (acknowledged by JetStream if it asks) and receive those acks in its own inbox.\n\
         \x20 {device_account} {{\n\
         \x20   imports: [ {{ service: {{ account: {service_account}, subject: {} }} }} ]\n\
         \x20   # Subscriptions are limited per user (a limit of 0 would drop every connection).\n\
         \x20   limits: {{ max_payload: {} }}\n\
         \x20 }}\n\
         \x20 SYS {{ }}\n\
         }}\n\
         system_account: SYS\n",
        quote(&secrets.user),
        quote(&bcrypt_hash(&secrets.user, &secrets.password)?),
        quote(energy),
        quote(energy),
        bus_contracts::v1::energy::MAX_PAYLOAD_BYTES,
    );
    let _ = writeln!(
        c,
        "# Everyone but the service user is sent to the callout, answered by the api nodes.\n\
         authorization {{\n\
         \x20 timeout: {AUTH_TIMEOUT_SECS}\n\
         \x20 auth_callout {{\n\
         \x20   issuer: {}\n\
         \x20   auth_users: [ {} ]\n\
         \x20   account: {service_account}\n{}\
         \x20 }}\n\
         }}",
        quote(&secrets.issuer.public_key()),
        quote(&secrets.user),
        xkey_line(args, secrets)?,
    );
    if let Some(port) = args.websocket_port {
        let _ = writeln!(
            c,
            "\n# Browser wearables (same callout, same permissions).\n\
             websocket {{\n  listen: {}\n{}}}",
            quote(&format!("{}:{port}", args.host)),
            tls_block(args, "  ").unwrap_or_else(|| {
                "  # Plain ws://: terminate TLS in front of it in production.\n  no_tls: true\n"
                    .to_owned()
            }),
        );
    }
    if let (Some(name), Some(port)) = (&args.cluster_name, args.cluster_port) {
        let Some(route_password) = &secrets.route_password else {
            bail!(
                "{} has no CULTFIT_NATS_ROUTE_PASSWORD, which a cluster needs",
                args.secrets.display()
            );
        };
        let routes = args
            .routes
            .iter()
            .map(|route| with_credentials(route, route_password).map(|r| quote(&r)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let _ = writeln!(
            c,
            "\n# Routes between the servers of the cluster, authenticated with the route password.\n\
             cluster {{\n\
             \x20 name: {}\n\
             \x20 listen: {}\n\
             \x20 authorization {{ user: {ROUTE_USER}, password: {} }}\n\
             \x20 routes: [ {} ]\n\
             }}",
            quote(name),
            quote(&format!("{}:{port}", args.host)),
            quote(&bcrypt_hash(ROUTE_USER, route_password)?),
            routes.join(", "),
        );
    }
    Ok(c)
}

/// The callout block's `xkey` line with `--encrypt-callout`, else nothing.
fn xkey_line(args: &NatsConfigArgs, secrets: &BusSecrets) -> anyhow::Result<String> {
    if !args.encrypt_callout {
        return Ok(String::new());
    }
    let Some(xkey) = &secrets.xkey else {
        bail!(
            "{} has no CULTFIT_NATS_XKEY_SEED, which --encrypt-callout needs",
            args.secrets.display()
        );
    };
    Ok(format!("    xkey: {}\n", quote(&xkey.public_key())))
}

/// The `tls { }` block for `--tls-cert`/`--tls-key`, indented by `indent`; `None` without TLS.
fn tls_block(args: &NatsConfigArgs, indent: &str) -> Option<String> {
    let (cert, key) = (args.tls_cert.as_ref()?, args.tls_key.as_ref()?);
    Some(format!(
        "{indent}tls {{\n{indent}  cert_file: {}\n{indent}  key_file: {}\n{indent}}}\n",
        quote(&cert.display().to_string()),
        quote(&key.display().to_string()),
    ))
}

/// The user name routes authenticate with.
const ROUTE_USER: &str = "route";

/// `nats-route://host:port` with the route credentials added.
fn with_credentials(route: &str, password: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = route.split_once("://") else {
        bail!("route {route:?} is not a URL like nats-route://host:port");
    };
    if rest.contains('@') {
        bail!("route {route:?} carries credentials: give host and port only");
    }
    Ok(format!("{scheme}://{ROUTE_USER}:{password}@{rest}"))
}

/// A bcrypt hash of `password` whose salt is derived from the secret itself, so the same secrets
/// always give the same configuration (the hash still reveals nothing usable).
fn bcrypt_hash(user: &str, password: &str) -> anyhow::Result<String> {
    let digest = Sha256::digest(format!("cultfit nats-config salt\0{user}\0{password}"));
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&digest[..16]);
    Ok(bcrypt::hash_with_salt(password, BCRYPT_COST, salt)
        .context("failed to hash a bus password")?
        .format_for_version(bcrypt::Version::TwoA))
}

/// A double-quoted string of the nats-server configuration language.
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: NatsConfigArgs,
    }

    fn args(extra: &[&str]) -> NatsConfigArgs {
        let mut argv = vec!["nats-config", "--secrets", "/tmp/cultfit/secrets.env"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn the_config_locks_the_bus_and_keeps_secrets_out() {
        let secrets = BusSecrets::generate();
        let text = render(&args(&[]), &secrets).unwrap();
        for needle in [
            "listen: \"0.0.0.0:4222\"",
            "store_dir: \"/tmp/cultfit/jetstream\"",
            "exports: [ { service: \"cultfit.v1.workouts.*.energy.*\", accounts: [ DEVICES ] } ]",
            "imports: [ { service: { account: CULTFIT, subject: \"cultfit.v1.workouts.*.energy.*\" } } ]",
            &format!("issuer: \"{}\"", secrets.issuer.public_key()),
            "auth_users: [ \"cultfit\" ]",
            "account: CULTFIT",
            "system_account: SYS",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(!text.contains("xkey"), "no encryption unless asked: {text}");
        assert!(!text.contains(&secrets.password), "the password leaked");
        assert!(
            !text.contains(&secrets.issuer.seed().unwrap()),
            "the seed leaked"
        );
        assert!(!text.contains("websocket") && !text.contains("cluster {"));
        assert!(!text.contains("tls {"));
    }

    #[test]
    fn the_same_secrets_give_the_same_config() {
        let secrets = BusSecrets::generate();
        let a = render(&args(&["--port", "4333"]), &secrets).unwrap();
        let b = render(&args(&["--port", "4333"]), &secrets).unwrap();
        assert_eq!(a, b);
        let hash = bcrypt_hash(&secrets.user, &secrets.password).unwrap();
        assert!(bcrypt::verify(&secrets.password, &hash).unwrap());
    }

    #[test]
    fn jetstream_syncs_every_write_only_when_asked() {
        let secrets = BusSecrets::generate();
        let default = render(&args(&[]), &secrets).unwrap();
        assert!(!default.contains("sync_interval"), "{default}");
        let always = render(&args(&["--jetstream-sync", "always"]), &secrets).unwrap();
        assert!(always.contains("  sync_interval: always\n}"), "{always}");
    }

    #[test]
    fn websocket_and_cluster_blocks_are_optional_and_routes_get_credentials() {
        let secrets = BusSecrets::generate();
        let text = render(
            &args(&[
                "--websocket-port",
                "8443",
                "--cluster-name",
                "cultfit",
                "--cluster-port",
                "6222",
                "--routes",
                "nats-route://10.0.0.2:6222,nats-route://10.0.0.3:6222",
            ]),
            &secrets,
        )
        .unwrap();
        let password = secrets.route_password.clone().unwrap();
        assert!(
            text.contains("websocket {\n  listen: \"0.0.0.0:8443\""),
            "{text}"
        );
        assert!(
            text.contains("name: \"cultfit\"") && text.contains("no_tls: true"),
            "{text}"
        );
        assert!(
            text.contains(&format!("\"nats-route://route:{password}@10.0.0.3:6222\"")),
            "{text}"
        );
        assert!(
            with_credentials("nats-route://u:p@10.0.0.2:6222", &password).is_err(),
            "credentials given twice"
        );
    }

    #[test]
    fn with_a_certificate_clients_and_browsers_get_tls() {
        let secrets = BusSecrets::generate();
        let text = render(
            &args(&[
                "--websocket-port",
                "8443",
                "--tls-cert",
                "/etc/cultfit/bus.pem",
                "--tls-key",
                "/etc/cultfit/bus.key",
            ]),
            &secrets,
        )
        .unwrap();
        assert_eq!(
            text.matches("cert_file: \"/etc/cultfit/bus.pem\"").count(),
            2,
            "{text}"
        );
        assert!(!text.contains("no_tls"), "{text}");
    }

    #[test]
    fn encrypting_the_callout_names_the_xkey_and_needs_one() {
        let mut secrets = BusSecrets::generate();
        let text = render(&args(&["--encrypt-callout"]), &secrets).unwrap();
        let xkey = secrets.xkey.as_ref().map(nkeys::XKey::public_key).unwrap();
        assert!(text.contains(&format!("xkey: \"{xkey}\"")), "{text}");
        assert!(!text.contains(&secrets.xkey.as_ref().unwrap().seed().unwrap()));
        secrets.xkey = None;
        let err = render(&args(&["--encrypt-callout"]), &secrets).err();
        assert!(
            err.is_some_and(|e| e.to_string().contains("CULTFIT_NATS_XKEY_SEED")),
            "refused without an xkey"
        );
    }
}
