//! Encryption of the callout traffic with the deployment's xkey, in nkeys' sealed-box format
//! (`xkv1` ‖ 24-byte nonce ‖ XSalsa20-Poly1305 box), which is what nats-server speaks.
//!
//! `nkeys::XKey::{seal, open}` redo the X25519 key exchange for every message; in a connect storm
//! that exchange, twice per admitted wearable, was the largest single cost of the responder. A
//! server's xkey lives as long as the server, so the box (the shared key) is computed once per
//! server and kept. Interoperability with `nkeys` is pinned by the tests below.

use anyhow::{Context, bail};
use crypto_box::aead::{Aead as _, AeadCore as _, OsRng};
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use nkeys::XKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

const VERSION: &[u8] = b"xkv1";
const NONCE_BYTES: usize = 24;

/// Servers whose boxes are kept; a cluster has a handful, and each restart brings a new key.
const MAX_SERVERS: usize = 64;

/// Seals to and opens from nats-servers with our xkey.
pub struct Sealer {
    ours: SecretKey,
    boxes: Mutex<HashMap<String, Arc<SalsaBox>>>,
}

impl Sealer {
    /// A sealer for our xkey (which must have its seed).
    pub fn new(xkey: &XKey) -> anyhow::Result<Self> {
        let seed = xkey.seed().context("the xkey has no seed")?;
        let (_, raw) = nkeys::decode_seed(&seed).context("the xkey seed does not decode")?;
        Ok(Self {
            ours: SecretKey::from(raw),
            boxes: Mutex::new(HashMap::new()),
        })
    }

    fn shared(&self, server_xkey: &str) -> anyhow::Result<Arc<SalsaBox>> {
        let mut boxes = self.boxes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = boxes.get(server_xkey) {
            return Ok(shared.clone());
        }
        let (_, raw) = nkeys::from_public_key(server_xkey)
            .ok()
            .filter(|_| server_xkey.starts_with('X'))
            .context("the server's xkey is not a curve key")?;
        if boxes.len() >= MAX_SERVERS {
            boxes.clear();
        }
        let shared = Arc::new(SalsaBox::new(&PublicKey::from(raw), &self.ours));
        boxes.insert(server_xkey.to_owned(), shared.clone());
        Ok(shared)
    }

    /// Decrypt a request `server_xkey` sealed to us.
    pub fn open(&self, server_xkey: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        let Some(rest) = sealed.strip_prefix(VERSION) else {
            bail!("not an xkv1 sealed box");
        };
        if rest.len() <= NONCE_BYTES {
            bail!("sealed box too short");
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        self.shared(server_xkey)?
            .decrypt(nonce.into(), ciphertext)
            .map_err(|_| anyhow::anyhow!("the sealed box does not open with our xkey"))
    }

    /// Encrypt an answer for `server_xkey`.
    pub fn seal(&self, server_xkey: &str, plain: &[u8]) -> anyhow::Result<Vec<u8>> {
        let nonce = SalsaBox::generate_nonce(&mut OsRng);
        let ciphertext = self
            .shared(server_xkey)?
            .encrypt(&nonce, plain)
            .map_err(|_| anyhow::anyhow!("cannot seal the answer"))?;
        let mut sealed = Vec::with_capacity(VERSION.len() + NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn boxes_interoperate_with_nkeys_both_ways_and_strangers_cannot_open_them() {
        let (ours, server) = (XKey::new(), XKey::new());
        let sealer = Sealer::new(&ours).unwrap();
        let ours_public = XKey::from_public_key(&ours.public_key()).unwrap();

        // What nats-server sends: sealed by the server to our public key.
        let request = server.seal(b"a request", &ours_public).unwrap();
        assert_eq!(
            sealer.open(&server.public_key(), &request).unwrap(),
            b"a request"
        );
        // What we answer: the server opens it with its key and ours.
        let answer = sealer.seal(&server.public_key(), b"an answer").unwrap();
        assert_eq!(server.open(&answer, &ours_public).unwrap(), b"an answer");
        // Twice, through the cached box.
        let again = sealer.seal(&server.public_key(), b"again").unwrap();
        assert_eq!(server.open(&again, &ours_public).unwrap(), b"again");

        let stranger = XKey::new();
        assert!(stranger.open(&answer, &ours_public).is_err());
        let forged = stranger.seal(b"forged", &ours_public).unwrap();
        assert!(sealer.open(&server.public_key(), &forged).is_err());
        assert!(sealer.open(&server.public_key(), b"xkv1short").is_err());
        assert!(sealer.open("not-a-key", &request).is_err());
    }
}
