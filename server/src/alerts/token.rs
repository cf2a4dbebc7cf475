//! Signed links in alert mails: confirm an address, manage or stop a
//! subscription. A token names its purpose, the subscription and when it
//! expires, signed with a key this server made once at random and keeps in
//! its database, so nothing about a link needs storing and none can be
//! forged or turned to another purpose.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a confirmation link works.
pub const CONFIRM_FOR: TimeDelta = TimeDelta::hours(48);
/// Bytes of signature kept in a token: 128 bits.
const SIGNATURE_BYTES: usize = 16;

/// What a link lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm the address (double opt-in).
    Confirm,
    /// Manage the subscription, or unsubscribe from it.
    Manage,
}

impl Purpose {
    fn letter(self) -> char {
        match self {
            Self::Confirm => 'c',
            Self::Manage => 'm',
        }
    }
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("this link is not valid")]
    Invalid,
    #[error("this link has expired")]
    Expired,
}

/// Why the signer could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("the stored link key is not usable")]
    Key,
}

#[derive(Clone)]
pub struct Signer {
    /// Keyed once; each token clones it.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    /// The signer of this server's links: its key from the store, made on
    /// first use.
    pub async fn load(store: &store::Store) -> Result<Self, SignerError> {
        use rand::RngCore;
        let mut fresh = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        let key = store.server_key("alert-links", &fresh, Utc::now()).await?;
        Self::with_key(&key)
    }

    pub fn with_key(key: &[u8]) -> Result<Self, SignerError> {
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| SignerError::Key)?;
        Ok(Self { keyed })
    }

    /// A token for `subscription`; a confirmation expires `CONFIRM_FOR`
    /// after `now`, a manage token never.
    pub fn token(&self, purpose: Purpose, subscription: i64, now: DateTime<Utc>) -> String {
        let expires = match purpose {
            Purpose::Confirm => (now + CONFIRM_FOR).timestamp(),
            Purpose::Manage => 0,
        };
        // Dots separate: the URL-safe alphabet has dashes, never dots.
        let body = format!("{}{subscription}.{expires}", purpose.letter());
        format!("{body}.{}", BASE64.encode(self.signature(&body)))
    }

    /// The subscription a token is for, if it is genuine, for `purpose`
    /// and not expired at `now`.
    pub fn check(
        &self,
        token: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<i64, TokenError> {
        if token.len() > 128 {
            return Err(TokenError::Invalid);
        }
        let (body, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let signature = BASE64.decode(signature).map_err(|_| TokenError::Invalid)?;
        // In constant time, over the kept (leftmost) bytes.
        if signature.len() != SIGNATURE_BYTES
            || self.mac(body).verify_truncated_left(&signature).is_err()
        {
            return Err(TokenError::Invalid);
        }
        let rest = body
            .strip_prefix(purpose.letter())
            .ok_or(TokenError::Invalid)?;
        let (id, expires) = rest.split_once('.').ok_or(TokenError::Invalid)?;
        let id: i64 = id.parse().map_err(|_| TokenError::Invalid)?;
        let expires: i64 = expires.parse().map_err(|_| TokenError::Invalid)?;
        if expires != 0 && now.timestamp() > expires {
            return Err(TokenError::Expired);
        }
        Ok(id)
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(body.as_bytes());
        mac
    }

    fn signature(&self, body: &str) -> Vec<u8> {
        let mut signature = self.mac(body).finalize().into_bytes().to_vec();
        signature.truncate(SIGNATURE_BYTES);
        signature
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::with_key(&[7; 32]).unwrap()
    }

    #[test]
    fn a_token_works_for_its_purpose_and_subscription_only() {
        let now = Utc::now();
        let signer = signer();
        let confirm = signer.token(Purpose::Confirm, 42, now);
        assert_eq!(signer.check(&confirm, Purpose::Confirm, now), Ok(42));
        assert_eq!(
            signer.check(&confirm, Purpose::Manage, now),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            signer.check(
                &confirm,
                Purpose::Confirm,
                now + CONFIRM_FOR + TimeDelta::seconds(1)
            ),
            Err(TokenError::Expired)
        );
        let manage = signer.token(Purpose::Manage, 42, now);
        assert_eq!(
            signer.check(&manage, Purpose::Manage, now + TimeDelta::days(3650)),
            Ok(42)
        );
        // Another subscription's number with this signature, another key,
        // a cut or flipped signature: refused.
        let forged = manage.replacen("m42", "m43", 1);
        assert_eq!(
            signer.check(&forged, Purpose::Manage, now),
            Err(TokenError::Invalid)
        );
        let other = Signer::with_key(&[8; 32]).unwrap();
        assert_eq!(
            other.check(&manage, Purpose::Manage, now),
            Err(TokenError::Invalid)
        );
        for bad in [
            "",
            "m42.0",
            "m42.0.",
            "m42.0.AAAA",
            &manage[..manage.len() - 1],
        ] {
            assert_eq!(
                signer.check(bad, Purpose::Manage, now),
                Err(TokenError::Invalid),
                "{bad}"
            );
        }
    }
}
