//! Dev tokens and a dev JWKS: what the local stack's tooling and the tests sign with. Feature
//! `dev` (and tests): no Lambda ships it.

use super::Algorithm;
use crate::ids::UserId;

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
pub fn mint_rs256(private_pem: &[u8], kid: &str, token: DevToken<'_>) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    mint(&header, &jsonwebtoken::EncodingKey::from_rsa_pem(private_pem)?, token)
}

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
