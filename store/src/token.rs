//! API tokens: kept as the SHA-256 of the token, scoped to reads or
//! writes, with the time each was last used.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// What a token may do: read with a budget of its own, or change things
/// too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    Read,
    Write,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }
}

/// A token as listed: never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    name: String,
    scope: String,
    created_by: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for ApiToken {
    fn from(row: TokenRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            // The table allows only the two; a stranger reads as the lesser.
            scope: TokenScope::parse(&row.scope).unwrap_or(TokenScope::Read),
            created_by: row.created_by,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

const TOKEN_COLUMNS: &str = "id, name, scope, created_by, created_at, last_used_at, revoked_at";

impl Store {
    /// Keeps a new token by its hash; returns its id.
    pub async fn create_api_token(
        &self,
        name: &str,
        scope: TokenScope,
        token_hash: &str,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        on_writer!(self, |pool| {
            Ok(sqlx::query_scalar(
                "INSERT INTO api_tokens (name, token_hash, scope, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(name)
            .bind(token_hash)
            .bind(scope.as_str())
            .bind(created_by)
            .bind(now)
            .fetch_one(pool)
            .await?)
        })
    }

    /// Every token, newest first, revoked ones included.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC");
            let rows: Vec<TokenRow> = sqlx::query_as(&sql).fetch_all(pool).await?;
            Ok(rows.into_iter().map(ApiToken::from).collect())
        })
    }

    /// The live (not revoked) token with this hash.
    pub async fn api_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<ApiToken>, StoreError> {
        on_reader!(self, |pool| {
            let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        );
            let row: Option<TokenRow> = sqlx::query_as(&sql)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(ApiToken::from))
        })
    }

    /// Notes that a token was used at `now`; written at most once a minute
    /// per token, so a busy client costs no write per request.
    pub async fn touch_api_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(&format!(
                "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2
                 AND (last_used_at IS NULL OR {last_used} <= {a_minute_ago})",
                last_used = DIALECT.moment("last_used_at"),
                a_minute_ago = DIALECT.moment("$3"),
            ))
            .bind(now)
            .bind(id)
            .bind(now - chrono::TimeDelta::minutes(1))
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Revokes a token; `false` when there is no live token with this id.
    pub async fn revoke_api_token(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let done = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
