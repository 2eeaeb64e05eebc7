//! Token rules from the environment: which keys verify tokens, and the rules every token meets.

use std::time::Duration;

use super::Algorithm;
use crate::config::{ConfigError, Env};

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
