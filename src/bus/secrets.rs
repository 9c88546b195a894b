//! The bus secrets file: the service's NATS credentials and the keys of the auth callout.
//!
//! A `KEY=VALUE` env file (comments with `#`), created once by `cultfit nats-config` with mode
//! 0600 and read by every `cultfit serve` (`CULTFIT_NATS_SECRETS`). The server configuration is
//! derived from it, so the two always agree:
//!
//! | key | what | who uses it |
//! |---|---|---|
//! | `CULTFIT_NATS_USER`, `CULTFIT_NATS_PASSWORD` | the service login in account `CULTFIT` | services connect with it; the config holds only its bcrypt hash |
//! | `CULTFIT_NATS_ISSUER_SEED` | account nkey seed (`SA…`) that signs callout answers | api nodes; the config holds its public key |
//! | `CULTFIT_NATS_XKEY_SEED` (optional) | curve key seed (`SX…`) the callout traffic is encrypted to | api nodes; the config holds its public key |
//! | `CULTFIT_NATS_ROUTE_PASSWORD` (optional) | password of the routes between clustered servers | nats-servers only (config) |
//!
//! Nothing here is ever logged: [`BusSecrets`]'s `Debug` shows public keys only.

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::{KeyPair, XKey};
use rand::RngCore as _;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

const USER: &str = "CULTFIT_NATS_USER";
const PASSWORD: &str = "CULTFIT_NATS_PASSWORD";
const ISSUER_SEED: &str = "CULTFIT_NATS_ISSUER_SEED";
const XKEY_SEED: &str = "CULTFIT_NATS_XKEY_SEED";
const ROUTE_PASSWORD: &str = "CULTFIT_NATS_ROUTE_PASSWORD";

/// The service user's name in new secrets files.
const DEFAULT_USER: &str = "cultfit";

/// Everything secret about one deployment's bus.
pub struct BusSecrets {
    /// The service user (account `CULTFIT`, exempt from the callout).
    pub user: String,
    /// The service user's password.
    pub password: String,
    /// Signs the callout's answers and the user JWTs it issues (an account key, `A…`).
    pub issuer: KeyPair,
    /// Encrypts callout requests and answers, when present.
    pub xkey: Option<XKey>,
    /// Authenticates routes between the servers of a cluster, when present.
    pub route_password: Option<String>,
}

impl std::fmt::Debug for BusSecrets {
    // Public halves only: this may be logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusSecrets")
            .field("user", &self.user)
            .field("issuer", &self.issuer.public_key())
            .field("xkey", &self.xkey.as_ref().map(XKey::public_key))
            .finish_non_exhaustive()
    }
}

impl BusSecrets {
    /// Fresh secrets: random passwords, a new issuer account key and a new xkey.
    pub fn generate() -> Self {
        Self {
            user: DEFAULT_USER.to_owned(),
            password: random_password(),
            issuer: KeyPair::new_account(),
            xkey: Some(XKey::new()),
            route_password: Some(random_password()),
        }
    }

    /// Read the file at `path`. Warns when others may read it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let metadata = std::fs::metadata(path)
            .with_context(|| format!("cannot read the bus secrets file {}", path.display()))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the bus secrets file is readable by other users: chmod 600 it"
            );
        }
        let mut values = std::collections::HashMap::new();
        for item in dotenvy::from_path_iter(path)
            .with_context(|| format!("cannot read the bus secrets file {}", path.display()))?
        {
            let (key, value) =
                item.with_context(|| format!("{} is not a KEY=VALUE file", path.display()))?;
            values.insert(key, value);
        }
        let mut take = |key: &str| values.remove(key).filter(|v| !v.is_empty());
        let required = |value: Option<String>, key: &str| {
            value.with_context(|| format!("{} has no {key}", path.display()))
        };
        let user = required(take(USER), USER)?;
        let password = required(take(PASSWORD), PASSWORD)?;
        let issuer_seed = required(take(ISSUER_SEED), ISSUER_SEED)?;
        let issuer = KeyPair::from_seed(&issuer_seed)
            .ok()
            .filter(|key| key.key_pair_type() == nkeys::KeyPairType::Account)
            .with_context(|| format!("{ISSUER_SEED} is not an account seed (SA…)"))?;
        let xkey = take(XKEY_SEED)
            .map(|seed| {
                XKey::from_seed(&seed).with_context(|| format!("{XKEY_SEED} is not an xkey seed"))
            })
            .transpose()?;
        if password.len() < 16 {
            bail!("{PASSWORD} must be at least 16 characters");
        }
        Ok(Self {
            user,
            password,
            issuer,
            xkey,
            route_password: take(ROUTE_PASSWORD),
        })
    }

    /// Read `path`, or create it (mode 0600) with fresh secrets if it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            return Self::load(path);
        }
        let secrets = Self::generate();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create the bus secrets file {}", path.display()))?;
        file.write_all(secrets.to_env_file()?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(secrets)
    }

    fn to_env_file(&self) -> anyhow::Result<String> {
        let mut text = String::from(
            "# cultfit bus secrets, created by `cultfit nats-config`. Keep it 0600 and out of version\n\
             # control; every `cultfit serve` of this deployment reads it (CULTFIT_NATS_SECRETS).\n",
        );
        let mut line = |key: &str, value: &str| text.push_str(&format!("{key}={value}\n"));
        line(USER, &self.user);
        line(PASSWORD, &self.password);
        line(
            ISSUER_SEED,
            &self.issuer.seed().context("the issuer key has no seed")?,
        );
        if let Some(xkey) = &self.xkey {
            line(XKEY_SEED, &xkey.seed().context("the xkey has no seed")?);
        }
        if let Some(route_password) = &self.route_password {
            line(ROUTE_PASSWORD, route_password);
        }
        Ok(text)
    }
}

/// 256 random bits, URL-safe: no character a config file or URL would need to escape.
fn random_password() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_file_is_private_and_reads_back_the_same_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| std::process::abort());
        let path = dir.path().join("secrets.env");
        let created = BusSecrets::load_or_create(&path).ok();
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let read = BusSecrets::load_or_create(&path).ok();
        let public = |s: &Option<BusSecrets>| {
            s.as_ref().map(|s| {
                (
                    s.user.clone(),
                    s.password.clone(),
                    s.issuer.public_key(),
                    s.xkey.as_ref().map(XKey::public_key),
                    s.route_password.clone(),
                )
            })
        };
        assert!(created.is_some());
        assert_eq!(public(&created), public(&read), "reused, not regenerated");
    }

    #[test]
    fn missing_or_wrong_keys_are_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| std::process::abort());
        let path = dir.path().join("secrets.env");
        let user_seed = KeyPair::new_user().seed().unwrap_or_default();
        let cases = [
            ("", USER),
            ("CULTFIT_NATS_USER=svc\n", PASSWORD),
            (
                "CULTFIT_NATS_USER=svc\nCULTFIT_NATS_PASSWORD=0123456789abcdef0\n",
                ISSUER_SEED,
            ),
            (
                &*format!(
                    "CULTFIT_NATS_USER=svc\nCULTFIT_NATS_PASSWORD=0123456789abcdef0\nCULTFIT_NATS_ISSUER_SEED={user_seed}\n"
                ),
                ISSUER_SEED,
            ),
        ];
        for (text, named) in cases {
            std::fs::write(&path, text).unwrap_or_default();
            let err = BusSecrets::load(&path).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(named)),
                "{text:?}: {err:?}"
            );
        }
    }
}
