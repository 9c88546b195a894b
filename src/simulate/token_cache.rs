//! The token cache: the simulated accounts' tokens, kept between runs so a second run under the
//! same `--name` does not sign everyone in again (argon2 holds a 2-core node near 130 sign-ins a
//! second, which makes signing in the slow part of setting up a big class).
//!
//! One JSON file per `--name` and api node, by default
//! `$XDG_CACHE_HOME/cultfit/simulate/<name>-<hash of the api URL>.json` (else under `~/.cache`),
//! written with mode 0600 since it holds credentials:
//!
//! ```json
//! {"format": 1, "api_url": "http://127.0.0.1:8080",
//!  "accounts": {"sim-trainee-1@sim.cultfit.test":
//!               {"user_id": "…", "access_token": "…", "refresh_token": "…"}}}
//! ```
//!
//! An account is reused in the cheapest way the service still accepts (see
//! [`super::accounts::sign_in`]): its access token, if it stays valid for the whole run plus
//! [`MARGIN`] (read from the JWT's `exp` without verifying it: the service verifies) and
//! `GET /me` accepts it; else its refresh token (single use, so the new pair is written back);
//! else its password, as without a cache.
//!
//! Non-goals: sharing one file between simulations that run at the same time (the last to
//! finish writes it; a refresh token used by both is refused to the second, which then logs in).

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// How long past the end of the run a cached access token must stay valid to be reused.
pub const MARGIN: Duration = Duration::from_secs(60);

/// The file's format; a file of another is ignored (and replaced).
const FORMAT: u32 = 1;

/// One account's tokens.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The user id.
    pub user_id: Uuid,
    /// The last access token issued to it.
    pub access_token: String,
    /// The refresh token that goes with it (unused so far), if any.
    pub refresh_token: Option<String>,
}

/// The file's contents.
#[derive(Debug, Serialize, Deserialize)]
struct File {
    format: u32,
    api_url: String,
    /// By email.
    accounts: BTreeMap<String, Entry>,
}

/// The cached tokens of one `--name` on one api node.
#[derive(Debug)]
pub struct TokenCache {
    path: PathBuf,
    api_url: String,
    accounts: BTreeMap<String, Entry>,
}

impl TokenCache {
    /// The default file for `name` on the api node at `api_url`: under `$XDG_CACHE_HOME`, else
    /// `$HOME/.cache`; `None` if neither is set.
    pub fn default_path(name: &str, api_url: &str) -> Option<PathBuf> {
        let absolute = |var: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        let base =
            absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|h| h.join(".cache")))?;
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let hash: String = Sha256::digest(normalise(api_url).as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(
            base.join("cultfit")
                .join("simulate")
                .join(format!("{safe}-{hash}.json")),
        )
    }

    /// The cache at `path` for the api node at `api_url`, and why it starts empty if it could
    /// not be used (unreadable, another format, another api node). A missing file is just empty.
    pub fn open(path: PathBuf, api_url: &str) -> (Self, Option<String>) {
        let api_url = normalise(api_url).to_owned();
        let (accounts, problem) = match std::fs::read(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => (BTreeMap::new(), None),
            Err(err) => (BTreeMap::new(), Some(format!("cannot read it ({err})"))),
            Ok(bytes) => match serde_json::from_slice::<File>(&bytes) {
                Ok(file) if file.format != FORMAT => (
                    BTreeMap::new(),
                    Some(format!("it has format {}, not {FORMAT}", file.format)),
                ),
                Ok(file) if file.api_url != api_url => (
                    BTreeMap::new(),
                    Some(format!("it is for {}, not {api_url}", file.api_url)),
                ),
                Ok(file) => (file.accounts, None),
                Err(err) => (BTreeMap::new(), Some(format!("it is not valid ({err})"))),
            },
        };
        let cache = Self {
            path,
            api_url,
            accounts,
        };
        let problem = problem.map(|why| {
            format!(
                "ignoring the token cache {}: {why}; it will be replaced",
                cache.path.display()
            )
        });
        (cache, problem)
    }

    /// Where the cache lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accounts cached.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether no account is cached.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The tokens cached for `email`.
    pub fn get(&self, email: &str) -> Option<&Entry> {
        self.accounts.get(email)
    }

    /// Remembers `email`'s newest tokens.
    pub fn put(&mut self, email: String, entry: Entry) {
        self.accounts.insert(email, entry);
    }

    /// Writes the cache (mode 0600, in a directory of mode 0700 if it creates one), replacing
    /// the file at once so a reader never sees half of it.
    pub fn save(&self) -> anyhow::Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let file = File {
            format: FORMAT,
            api_url: self.api_url.clone(),
            accounts: self.accounts.clone(),
        };
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(format!(".{}.tmp", std::process::id()));
        let temporary = dir.join(name);
        let write = || -> std::io::Result<()> {
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temporary)?;
            // `mode` applies only to a file it creates.
            out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            out.write_all(&serde_json::to_vec(&file)?)?;
            out.sync_all()?;
            std::fs::rename(&temporary, &self.path)
        };
        write().map_err(|err| {
            let _ = std::fs::remove_file(&temporary);
            anyhow::Error::new(err).context(format!("writing {}", self.path.display()))
        })
    }
}

/// The api URL as the cache keys it (no trailing slash, as [`super::http::Http`] uses it).
fn normalise(api_url: &str) -> &str {
    api_url.trim_end_matches('/')
}

/// Whether the access token `token` stays valid, by its `exp`, for `run` from `now` (seconds
/// since the epoch) plus [`MARGIN`]. The signature is not checked: the service does that, and a
/// token it refuses is replaced all the same.
pub fn good_for(token: &str, now: i64, run: Duration) -> bool {
    #[derive(Deserialize)]
    struct Expiry {
        exp: i64,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Expiry>(token)
        .is_ok_and(|claims| valid_until(claims.exp, now, run))
}

/// The rule: `exp` lies beyond `now + run + MARGIN`.
fn valid_until(exp: i64, now: i64, run: Duration) -> bool {
    let needed = i64::try_from((run + MARGIN).as_secs()).unwrap_or(i64::MAX);
    exp > now.saturating_add(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn token(exp: i64) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"sub": "someone", "exp": exp}),
            &jsonwebtoken::EncodingKey::from_secret(b"not the service's secret, unchecked"),
        )
        .unwrap_or_default()
    }

    #[test]
    fn an_expired_token_is_not_reused() {
        assert!(!good_for(&token(NOW - 10), NOW, Duration::ZERO));
        assert!(!good_for(&token(NOW), NOW, Duration::ZERO));
    }

    #[test]
    fn a_token_about_to_expire_is_not_reused() {
        // Within the margin.
        assert!(!good_for(&token(NOW + 30), NOW, Duration::ZERO));
        assert!(!good_for(&token(NOW + 60), NOW, Duration::ZERO));
        // Valid now, but not until the run's end plus the margin.
        assert!(!good_for(&token(NOW + 300), NOW, Duration::from_secs(250)));
    }

    #[test]
    fn a_token_valid_for_the_run_and_the_margin_is_reused() {
        assert!(good_for(&token(NOW + 61), NOW, Duration::ZERO));
        assert!(good_for(&token(NOW + 900), NOW, Duration::from_secs(90)));
    }

    #[test]
    fn what_is_not_a_jwt_is_not_reused() {
        for garbage in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
            assert!(!good_for(garbage, NOW, Duration::ZERO), "{garbage}");
        }
    }

    #[test]
    fn the_cache_round_trips_through_a_private_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("nested").join("sim.json");
        let (mut cache, problem) = TokenCache::open(path.clone(), "http://api:8080/");
        assert!(cache.is_empty() && problem.is_none(), "{problem:?}");
        let entry = Entry {
            user_id: Uuid::from_u128(7),
            access_token: token(NOW),
            refresh_token: Some("opaque".into()),
        };
        cache.put("a@sim.cultfit.test".into(), entry);
        cache.save().unwrap_or_else(|e| panic!("{e:#}"));
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_default();
        assert_eq!(mode, 0o600);

        let (again, problem) = TokenCache::open(path.clone(), "http://api:8080");
        assert!(problem.is_none(), "{problem:?}");
        assert_eq!(
            again.get("a@sim.cultfit.test").map(|e| e.user_id),
            Some(Uuid::from_u128(7))
        );
        // Another api node's accounts are not this one's.
        let (other, problem) = TokenCache::open(path.clone(), "http://elsewhere:8080");
        assert!(other.is_empty() && problem.is_some());
        std::fs::write(&path, "not json").unwrap_or_else(|e| panic!("{e}"));
        let (broken, problem) = TokenCache::open(path, "http://api:8080");
        assert!(broken.is_empty() && problem.is_some());
    }

    #[test]
    fn each_name_and_api_node_has_its_own_file() {
        let a = TokenCache::default_path("sim", "http://127.0.0.1:8080");
        let b = TokenCache::default_path("sim", "http://127.0.0.1:8081");
        let c = TokenCache::default_path("sim", "http://127.0.0.1:8080/");
        let d = TokenCache::default_path("../x y", "http://127.0.0.1:8080");
        if a.is_none() {
            return; // neither XDG_CACHE_HOME nor HOME: nothing to compare
        }
        assert_ne!(a, b);
        assert_eq!(a, c);
        let d = d.unwrap_or_default();
        assert!(
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".._x_y-")),
            "{}",
            d.display()
        );
        assert!(d.to_string_lossy().contains("cultfit/simulate/"));
    }
}
