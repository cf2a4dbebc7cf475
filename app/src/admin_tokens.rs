//! `/admin/tokens`: API tokens, each shown once when made and kept only as
//! its hash; listed with their scope and last use, revoked at once.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin::Flash;
use crate::error::AppError;

/// Longest name of a token.
pub const MAX_TOKEN_NAME: usize = 100;

/// Prefix of every token, so a leaked one is recognisable.
#[cfg(feature = "ssr")]
const TOKEN_PREFIX: &str = "flt_";

/// A new token and the hash the database keeps of it.
#[cfg(feature = "ssr")]
pub fn new_token() -> (String, String) {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("{TOKEN_PREFIX}{hex}");
    let hash = token_hash(&token);
    (token, hash)
}

/// What the database keeps of a token: its SHA-256, hex. A token is 32
/// random bytes, so a fast hash is enough to make a copy of the database
/// useless for calling the API.
#[cfg(feature = "ssr")]
pub fn token_hash(token: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `name` may name a token.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_TOKEN_NAME
        && !name.chars().any(char::is_control)
}

/// A token as the administrator sees it: never the token itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenLine {
    pub id: i64,
    pub name: String,
    /// `read` or `write`.
    pub scope: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminTokens {
    pub username: String,
    pub flash: Option<Flash>,
    pub tokens: Vec<TokenLine>,
}

#[server]
pub async fn load_admin_tokens() -> Result<AdminTokens, AppError> {
    let auth = expect_context::<crate::admin::AdminAuth>();
    let store = expect_context::<store::Store>();
    let Some(admin) = crate::admin::session::current_admin(&store).await? else {
        return Err(crate::admin::signed_out());
    };
    let tokens = store
        .api_tokens()
        .await?
        .into_iter()
        .map(|t| TokenLine {
            id: t.id,
            name: t.name,
            scope: t.scope.as_str().to_owned(),
            created_by: t.created_by,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        })
        .collect();
    Ok(AdminTokens {
        flash: auth.take_flash(admin.id),
        username: admin.username,
        tokens,
    })
}

#[cfg(feature = "ssr")]
const BACK: &str = "/admin/tokens";

/// Makes a token; it is shown once, in the notice that follows.
#[server(endpoint = "admin/tokens/create")]
pub async fn admin_create_token(name: String, scope: String) -> Result<(), AppError> {
    let Some((admin, auth, store)) = crate::admin::authorize_change().await? else {
        return Ok(());
    };
    let name = name.trim();
    if !valid_name(name) {
        let why = format!("A token's name needs 1 to {MAX_TOKEN_NAME} printable characters.");
        return crate::admin::done(&auth, &admin, BACK, Err(why));
    }
    let Some(scope) = store::TokenScope::parse(&scope) else {
        return crate::admin::done(&auth, &admin, BACK, Err("Pick read or write.".into()));
    };
    let (token, hash) = new_token();
    let id = store
        .create_api_token(name, scope, &hash, &admin.username, Utc::now())
        .await?;
    crate::admin::audit(
        &store,
        &admin.username,
        "create token",
        &format!("{id} ({name}, {})", scope.as_str()),
    )
    .await;
    crate::admin::done(
        &auth,
        &admin,
        BACK,
        Ok(format!(
            "Made token {id} ({name}, {}). Shown only this once: {token}",
            scope.as_str()
        )),
    )
}

/// Revokes a token: it stops working at once.
#[server(endpoint = "admin/tokens/revoke")]
pub async fn admin_revoke_token(id: i64) -> Result<(), AppError> {
    let Some((admin, auth, store)) = crate::admin::authorize_change().await? else {
        return Ok(());
    };
    if !store.revoke_api_token(id, Utc::now()).await? {
        return crate::admin::done(&auth, &admin, BACK, Err("No such live token.".into()));
    }
    crate::admin::audit(&store, &admin.username, "revoke token", &id.to_string()).await;
    crate::admin::done(&auth, &admin, BACK, Ok(format!("Token {id} revoked.")))
}
