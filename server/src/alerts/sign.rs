//! Standard Webhooks signatures: `whsec_` secrets and the
//! `webhook-signature` header, an HMAC-SHA256 over `id.timestamp.body`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of key in a new secret (the specification asks for 24 to 64).
const KEY_BYTES: usize = 32;

/// A new random secret, `whsec_` and the base64 of 32 bytes from the OS.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut key = [0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// The key inside a secret; `None` for text that is not one.
pub fn key_of(secret: &str) -> Option<Vec<u8>> {
    let key = BASE64
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()?;
    (!key.is_empty()).then_some(key)
}

/// The `webhook-signature` header: `v1,<base64>` for each secret, separated
/// by spaces, so a receiver rotating its secret accepts either.
pub fn signature_header(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|secret| key_of(secret))
        .filter_map(|key| {
            let mac = signed(&key, id, &timestamp.to_string(), body)?;
            Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `header` carries a valid signature of `id.timestamp.body` by
/// `secret` (compared in constant time).
pub fn verify(secret: &str, header: &str, id: &str, timestamp: &str, body: &[u8]) -> bool {
    let Some(key) = key_of(secret) else {
        return false;
    };
    header.split(' ').any(|signature| {
        let Some(encoded) = signature.strip_prefix("v1,") else {
            return false;
        };
        let Ok(expected) = BASE64.decode(encoded) else {
            return false;
        };
        signed(&key, id, timestamp, body).is_some_and(|mac| mac.verify_slice(&expected).is_ok())
    })
}

/// The HMAC of `id.timestamp.body` under `key`, before it is finished.
fn signed(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_signs_the_same() {
        // The example of the Standard Webhooks specification
        // (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature_header(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn new_secrets_are_random_keys_and_each_signs() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(key_of(&a).map(|k| k.len()), Some(KEY_BYTES));
        let header = signature_header(
            &[a.clone(), "not base64!".into(), b.clone()],
            "msg_1",
            1,
            b"{}",
        );
        assert_eq!(header.split(' ').count(), 2, "{header}");
        assert!(verify(&a, &header, "msg_1", "1", b"{}"));
        assert!(verify(&b, &header, "msg_1", "1", b"{}"));
        assert!(!verify(&a, &header, "msg_1", "1", b"{ }"));
        assert!(!verify(&a, &header, "msg_2", "1", b"{}"));
        assert!(!verify(&new_secret(), &header, "msg_1", "1", b"{}"));
    }
}
