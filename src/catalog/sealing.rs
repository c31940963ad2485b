//! Secrets at rest: AES-256-GCM (RustCrypto's `aes-gcm`), a random 96-bit nonce per record, and the
//! record's KV key as associated data, so a sealed value moved to another slug does not open.
//!
//! Format: `v1.<base64(nonce ‖ ciphertext ‖ tag)>`. `scripts/catalog.mjs` writes the same with
//! WebCrypto.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

const PREFIX: &str = "v1.";
const NONCE_LEN: usize = 12;

/// The catalog encryption key (Worker secret `CATALOG_KEY`, base64 of 32 bytes). `Debug` hides it.
#[derive(Clone)]
pub struct SealingKey(Aes256Gcm);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key is not base64 of exactly 32 bytes.
    #[error("CATALOG_KEY must be base64 of 32 random bytes")]
    BadKey,
    /// Not a `v1.` sealed value.
    #[error("sealed value has an unknown format")]
    Format,
    /// Wrong key, wrong slug, or tampered bytes: authentication failed.
    #[error("sealed value does not open with this key for this record (wrong key or tampered)")]
    Open,
    /// The random source failed.
    #[error("no randomness for a nonce")]
    Random,
}

impl SealingKey {
    pub fn from_base64(b64: &str) -> Result<Self, SealError> {
        let raw = B64.decode(b64.trim()).map_err(|_| SealError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&raw).map_err(|_| SealError::BadKey)?;
        Ok(SealingKey(cipher))
    }

    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let ct = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    pub fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let b64 = sealed.strip_prefix(PREFIX).ok_or(SealError::Format)?;
        let raw = B64.decode(b64).map_err(|_| SealError::Format)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(SealError::Format);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn round_trip_and_fail_closed() {
        let k = SealingKey::from_base64(KEY).unwrap();
        let sealed = k.seal("provider:prod", b"secret").unwrap();
        assert!(sealed.starts_with("v1."));
        assert_ne!(
            sealed,
            k.seal("provider:prod", b"secret").unwrap(),
            "fresh nonce each time"
        );
        assert_eq!(k.open("provider:prod", &sealed).unwrap(), b"secret");
        assert_eq!(k.open("provider:other", &sealed), Err(SealError::Open));
        let other = SealingKey::from_base64(&B64.encode([9u8; 32])).unwrap();
        assert_eq!(other.open("provider:prod", &sealed), Err(SealError::Open));
        let mut raw = B64.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            k.open("provider:prod", &format!("v1.{}", B64.encode(raw))),
            Err(SealError::Open)
        );
        assert_eq!(k.open("provider:prod", "plain"), Err(SealError::Format));
        assert_eq!(
            SealingKey::from_base64("c2hvcnQ=").map(|_| ()),
            Err(SealError::BadKey)
        );
    }
}
