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

use std::collections::HashMap;
use std::time::Duration;

/// The algorithms a [`PublicKey`] names.
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;

use crate::config::{ConfigError, Env};
use crate::ids::UserId;

pub mod jwks;

pub use jwks::{FetchKeys, JwksCache, KeysError};

/// Shortest HS256 secret we accept: RFC 7518 §3.2 asks for a key at least as long as the hash.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// A PEM public key and the one algorithm it verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub algorithm: Algorithm,
    pub pem: String,
}

/// Where an identity provider publishes its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksLocation {
    Url(String),
    /// The `jwks_uri` of the issuer's OpenID discovery document
    /// (`{issuer}/.well-known/openid-configuration`).
    Discovery {
        issuer: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    pub location: JwksLocation,
    /// How long fetched keys are trusted before they are fetched again.
    pub cache_for: Duration,
    /// The least time between two fetches: a flood of tokens with made-up `kid`s costs one
    /// fetch per interval, and a failing endpoint is not hammered.
    pub min_refresh: Duration,
}

/// Token rules, from the environment. The HS256 secret itself is not here: only where to read
/// it (see [`JwtSettings::secret_arn`]), so no plaintext secret sits in a Lambda's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// Secrets Manager secret (ARN or name) whose `SecretString` is the HS256 secret.
    pub secret_arn: Option<String>,
    pub public_key: Option<PublicKey>,
    pub jwks: Option<JwksSettings>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
}

impl JwtSettings {
    /// `JWT_SECRET_ARN`, `JWT_PUBLIC_KEY` (+ `JWT_PUBLIC_KEY_ALGORITHM`, RS256 or ES256,
    /// default RS256), `JWT_JWKS_URL` or `JWT_DISCOVERY=true` (+ `JWT_JWKS_CACHE_SECONDS`,
    /// default 600, `JWT_JWKS_MIN_REFRESH_SECONDS`, default 60): at least one key source.
    /// `JWT_ISSUER` and `JWT_AUDIENCE`, required with a public key or a JWKS;
    /// `JWT_LEEWAY_SECONDS` (default 30).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        if env.optional("JWT_SECRET").is_some() {
            return Err(ConfigError::invalid(
                "JWT_SECRET",
                "a plaintext secret is not read; store it in Secrets Manager and set JWT_SECRET_ARN",
            ));
        }
        let public_key = match env.optional("JWT_PUBLIC_KEY") {
            None => None,
            Some(pem) => {
                let algorithm = match env.optional("JWT_PUBLIC_KEY_ALGORITHM").as_deref() {
                    None | Some("RS256") => Algorithm::RS256,
                    Some("ES256") => Algorithm::ES256,
                    Some(_) => return Err(ConfigError::invalid("JWT_PUBLIC_KEY_ALGORITHM", "expected RS256 or ES256")),
                };
                Some(PublicKey { algorithm, pem })
            }
        };
        let issuer = env.optional("JWT_ISSUER");
        let discovery = env.parsed_or("JWT_DISCOVERY", false)?;
        let location = match (env.optional("JWT_JWKS_URL"), discovery) {
            (Some(_), true) => {
                return Err(ConfigError::invalid("JWT_DISCOVERY", "set JWT_JWKS_URL or JWT_DISCOVERY, not both"));
            }
            (Some(url), false) => Some(JwksLocation::Url(url)),
            (None, true) => {
                let issuer = issuer.clone().ok_or(ConfigError::Missing("JWT_ISSUER"))?;
                Some(JwksLocation::Discovery { issuer })
            }
            (None, false) => None,
        };
        match &location {
            Some(JwksLocation::Url(url)) if !is_trusted_url(url) => {
                return Err(ConfigError::invalid("JWT_JWKS_URL", "must be an https URL (http only on loopback)"));
            }
            Some(JwksLocation::Discovery { issuer }) if !is_trusted_url(issuer) => {
                return Err(ConfigError::invalid(
                    "JWT_ISSUER",
                    "discovery needs an https issuer (http only on loopback)",
                ));
            }
            _ => {}
        }
        let jwks = match location {
            None => None,
            Some(location) => Some(JwksSettings {
                location,
                cache_for: Duration::from_secs(env.parsed_or("JWT_JWKS_CACHE_SECONDS", 600)?),
                min_refresh: Duration::from_secs(env.parsed_or("JWT_JWKS_MIN_REFRESH_SECONDS", 60)?),
            }),
        };
        let settings = JwtSettings {
            secret_arn: env.optional("JWT_SECRET_ARN"),
            public_key,
            jwks,
            issuer,
            audience: env.optional("JWT_AUDIENCE"),
            leeway_seconds: env.parsed_or("JWT_LEEWAY_SECONDS", 30)?,
        };
        settings.check()?;
        Ok(settings)
    }

    /// The rules no environment may break, whoever built the settings.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.secret_arn.is_none() && self.public_key.is_none() && self.jwks.is_none() {
            return Err(ConfigError::invalid(
                "JWT_SECRET_ARN",
                "no key configured: set JWT_JWKS_URL (or JWT_DISCOVERY), JWT_PUBLIC_KEY or JWT_SECRET_ARN",
            ));
        }
        if self.public_key.is_some() || self.jwks.is_some() {
            // An identity provider signs tokens for every application it serves.
            if self.issuer.is_none() {
                return Err(ConfigError::invalid("JWT_ISSUER", "required with an identity provider's keys"));
            }
            if self.audience.is_none() {
                return Err(ConfigError::invalid("JWT_AUDIENCE", "required with an identity provider's keys"));
            }
        }
        Ok(())
    }
}

/// Keys are fetched over https only; plain http is allowed on loopback, for a local identity
/// provider (the dev stack's).
pub fn is_trusted_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    !authority.contains('@') && matches!(host, "127.0.0.1" | "localhost" | "::1")
}

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
    /// Issuer, audience, leeway and required claims; the algorithm is set per key.
    rules: Validation,
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
        Ok(TokenVerifier { hs256, public_key, jwks, rules })
    }

    /// How long after `exp` a token is still accepted.
    pub fn leeway_seconds(&self) -> u64 {
        self.rules.leeway
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

    fn check(&self, token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Identity, AuthError> {
        let mut validation = self.rules.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| classify(e.kind()))?;
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

/// The context keys the WebSocket authorizer sets. API Gateway hands the context to every
/// route of the connection as `requestContext.authorizer.<key>`.
pub const CONTEXT_USER_ID: &str = "userId";
/// Epoch second after which the connection's token no longer counts (its `exp` plus the
/// leeway the authorizer allowed).
pub const CONTEXT_TOKEN_EXPIRES_AT: &str = "tokenExpiresAt";

/// The caller of a WebSocket route, from the authorizer context API Gateway attached to it.
/// Identity never comes from a message body.
pub fn user_from_authorizer_context(fields: &HashMap<String, serde_json::Value>) -> Option<UserId> {
    fields.get(CONTEXT_USER_ID).and_then(|v| v.as_str()).and_then(|raw| UserId::parse(raw).ok())
}

/// When the connection's token stops counting. API Gateway may hand a context number back
/// as a string, so both are read.
pub fn token_expiry_from_authorizer_context(fields: &HashMap<String, serde_json::Value>) -> Option<u64> {
    match fields.get(CONTEXT_TOKEN_EXPIRES_AT)? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(any(test, feature = "dev"))]
#[derive(Debug, serde::Serialize)]
struct DevClaims<'a> {
    sub: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// What a dev token says.
#[cfg(any(test, feature = "dev"))]
#[derive(Debug, Clone, Copy)]
pub struct DevToken<'a> {
    pub user: &'a UserId,
    pub now: u64,
    pub ttl_seconds: u64,
    pub issuer: Option<&'a str>,
    pub audience: Option<&'a str>,
}

/// Mints an HS256 token for local development and tests (the local stack's shared secret).
/// Production tokens come from your identity provider. Feature `dev`: no Lambda ships it.
#[cfg(any(test, feature = "dev"))]
pub fn mint_hs256(
    secret: &[u8],
    user: &UserId,
    now: u64,
    ttl_seconds: u64,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let token = DevToken { user, now, ttl_seconds, issuer, audience };
    mint(&jsonwebtoken::Header::new(Algorithm::HS256), &jsonwebtoken::EncodingKey::from_secret(secret), token)
}

/// Mints an RS256 token with `kid` from a PKCS#8 PEM private key, as an identity provider
/// would (the local stack's dev JWKS publishes the matching public key).
#[cfg(any(test, feature = "dev"))]
pub fn mint_rs256(private_pem: &[u8], kid: &str, token: DevToken<'_>) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    mint(&header, &jsonwebtoken::EncodingKey::from_rsa_pem(private_pem)?, token)
}

#[cfg(any(test, feature = "dev"))]
fn mint(
    header: &jsonwebtoken::Header,
    key: &jsonwebtoken::EncodingKey,
    token: DevToken<'_>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = DevClaims {
        sub: token.user.as_str(),
        iat: token.now,
        exp: token.now + token.ttl_seconds,
        iss: token.issuer,
        aud: token.audience,
    };
    jsonwebtoken::encode(header, &claims, key)
}

/// A JWKS document publishing the public halves of RS256 `(kid, PKCS#8 PEM private key)`
/// pairs: what the local stack's dev identity provider serves.
#[cfg(any(test, feature = "dev"))]
pub fn dev_jwks(keys: &[(&str, &[u8])]) -> Result<serde_json::Value, jsonwebtoken::errors::Error> {
    let mut out = Vec::new();
    for (kid, pem) in keys {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
            &jsonwebtoken::EncodingKey::from_rsa_pem(pem)?,
            Algorithm::RS256,
        )?;
        jwk.common.key_id = Some((*kid).to_owned());
        out.push(jwk);
    }
    Ok(serde_json::to_value(jsonwebtoken::jwk::JwkSet { keys: out })?)
}

#[cfg(test)]
mod tests;
