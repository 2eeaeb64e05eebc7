//! JWT verification, shared by the WebSocket authorizer and the HTTP API so both apply the
//! same rules. A token is checked against the key its header points to, and only that one:
//!
//! | header `alg` | key | configured by |
//! |---|---|---|
//! | HS256 | the shared secret, read from Secrets Manager at cold start | `JWT_SECRET_ARN` |
//! | RS256 / ES256 with a `kid` | the identity provider's key of that `kid` (JWKS, cached) | `JWT_JWKS_URL` or `JWT_DISCOVERY` |
//! | RS256 / ES256 | one PEM public key | `JWT_PUBLIC_KEY` (+ `JWT_PUBLIC_KEY_ALGORITHM`) |
//!
//! Anything else (`none`, an HMAC token when no secret is configured, an RS256 token against
//! an EC key) is refused. `exp` and `sub` are required, `nbf` honoured; `iss` and `aud` are
//! checked whenever configured and *must* be configured when the keys are an identity
//! provider's (a public key or a JWKS), or any token the provider signs for another
//! application would be accepted.

/// The algorithms a [`PublicKey`] names.
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;

use crate::config::ConfigError;
use crate::ids::UserId;

mod context;
#[cfg(any(test, feature = "dev"))]
mod dev;
pub mod jwks;
mod settings;

pub use context::{
    CONTEXT_TOKEN_EXPIRES_AT, CONTEXT_USER_ID, token_expiry_from_authorizer_context, user_from_authorizer_context,
};
#[cfg(any(test, feature = "dev"))]
pub use dev::{DevToken, dev_jwks, mint_hs256, mint_rs256};
pub use jwks::{FetchKeys, JwksCache, KeysError};
pub use settings::{JwksLocation, JwksSettings, JwtSettings, MIN_HS256_SECRET_BYTES, PublicKey, is_trusted_url};

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    /// `exp`, epoch seconds.
    pub expires_at: u64,
}

/// Why a token was refused. The caller sees only "unauthorized"; the variant is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("token is not a well-formed JWT")]
    Malformed,
    #[error("token algorithm is not one a configured key verifies")]
    WrongAlgorithm,
    #[error("no key with the token's kid")]
    UnknownKey,
    #[error("the identity provider's keys are unavailable: {0}")]
    KeysUnavailable(String),
    #[error("bad signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token lacks a required claim")]
    MissingClaim,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("subject is not a valid user id")]
    BadSubject,
}

impl AuthError {
    /// A low-cardinality name for metrics.
    pub fn class(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Expired => "expired",
            AuthError::KeysUnavailable(_) => "keys_unavailable",
            _ => "invalid",
        }
    }
}

/// Both optional so a missing claim is reported as such rather than as a malformed token;
/// the validation's required-claims list rejects them first anyway.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<u64>,
}

/// Verifies tokens. Build once per cold start: keys are parsed here, and the JWKS cache
/// lives as long as the execution environment.
pub struct TokenVerifier {
    hs256: Option<DecodingKey>,
    public_key: Option<(Algorithm, DecodingKey)>,
    jwks: Option<JwksCache>,
    /// Issuer, audience, leeway and required claims, built once for each algorithm a key can
    /// have: HS256, RS256, ES256 (see [`Self::rules`]).
    rules: [Validation; 3],
}

impl std::fmt::Debug for TokenVerifier {
    // Never print a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("hs256", &self.hs256.is_some())
            .field("public_key", &self.public_key.as_ref().map(|(alg, _)| alg))
            .field("jwks", &self.jwks.is_some())
            .finish()
    }
}

impl TokenVerifier {
    /// `secret` is the value behind [`JwtSettings::secret_arn`] (the caller reads it, once);
    /// `fetch` fetches the JWKS when [`JwtSettings::jwks`] is set.
    pub fn new(settings: &JwtSettings, secret: Option<&[u8]>, fetch: Option<FetchKeys>) -> Result<Self, ConfigError> {
        settings.check()?;
        let hs256 = match (&settings.secret_arn, secret) {
            (None, _) => None,
            (Some(_), None) => return Err(ConfigError::Missing("JWT_SECRET_ARN")),
            (Some(_), Some(secret)) if secret.len() < MIN_HS256_SECRET_BYTES => {
                return Err(ConfigError::invalid("JWT_SECRET_ARN", "the secret is shorter than 32 bytes"));
            }
            (Some(_), Some(secret)) => Some(DecodingKey::from_secret(secret)),
        };
        let public_key = match &settings.public_key {
            None => None,
            Some(PublicKey { algorithm: Algorithm::ES256, pem }) => Some((
                Algorithm::ES256,
                DecodingKey::from_ec_pem(pem.as_bytes())
                    .map_err(|_| ConfigError::invalid("JWT_PUBLIC_KEY", "not an EC public key PEM"))?,
            )),
            Some(PublicKey { algorithm, pem }) => Some((
                *algorithm,
                DecodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|_| ConfigError::invalid("JWT_PUBLIC_KEY", "not an RSA public key PEM"))?,
            )),
        };
        let jwks = match (&settings.jwks, fetch) {
            (None, _) => None,
            (Some(_), None) => return Err(ConfigError::Missing("JWT_JWKS_URL")),
            (Some(jwks), Some(fetch)) => Some(JwksCache::new(fetch, jwks.cache_for, jwks.min_refresh)),
        };
        let mut rules = Validation::new(Algorithm::HS256);
        rules.leeway = settings.leeway_seconds;
        rules.validate_exp = true;
        rules.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &settings.issuer {
            Some(issuer) => {
                rules.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => rules.iss = None,
        }
        match &settings.audience {
            Some(audience) => {
                rules.set_audience(&[audience]);
                required.push("aud");
            }
            None => rules.validate_aud = false,
        }
        rules.set_required_spec_claims(&required);
        let for_algorithm = |alg| Validation { algorithms: vec![alg], ..rules.clone() };
        let rules = [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256].map(for_algorithm);
        Ok(TokenVerifier { hs256, public_key, jwks, rules })
    }

    /// How long after `exp` a token is still accepted.
    pub fn leeway_seconds(&self) -> u64 {
        self.rules[0].leeway
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| classify(e.kind()))?;
        match header.alg {
            Algorithm::HS256 => match &self.hs256 {
                Some(key) => self.check(token, key, Algorithm::HS256),
                None => Err(AuthError::WrongAlgorithm),
            },
            alg @ (Algorithm::RS256 | Algorithm::ES256) => {
                if let (Some(kid), Some(jwks)) = (header.kid.as_deref(), &self.jwks) {
                    let key = jwks.key(kid, alg).await?;
                    return self.check(token, &key, alg);
                }
                match &self.public_key {
                    Some((key_alg, key)) if *key_alg == alg => self.check(token, key, alg),
                    _ if self.jwks.is_some() => Err(AuthError::UnknownKey),
                    _ => Err(AuthError::WrongAlgorithm),
                }
            }
            _ => Err(AuthError::WrongAlgorithm),
        }
    }

    /// The rules for tokens of `alg`, which is one of the three [`Self::verify`] lets through.
    fn rules(&self, alg: Algorithm) -> &Validation {
        match alg {
            Algorithm::RS256 => &self.rules[1],
            Algorithm::ES256 => &self.rules[2],
            _ => &self.rules[0],
        }
    }

    fn check(&self, token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Identity, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, key, self.rules(alg)).map_err(|e| classify(e.kind()))?;
        let (Some(sub), Some(expires_at)) = (data.claims.sub, data.claims.exp) else {
            return Err(AuthError::MissingClaim);
        };
        let user = UserId::parse(sub).map_err(|_| AuthError::BadSubject)?;
        Ok(Identity { user, expires_at })
    }
}

fn classify(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(_) => AuthError::MissingClaim,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEcdsaKey => AuthError::WrongAlgorithm,
        _ => AuthError::Malformed,
    }
}

#[cfg(test)]
mod tests;
