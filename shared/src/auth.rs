//! JWT verification, shared by the WebSocket authorizer and the HTTP API so both apply the
//! same rules: a signature by the one configured key and algorithm, `exp` required, `nbf`
//! honoured, `iss`/`aud` checked when configured, `sub` a valid [`UserId`].

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::{ConfigError, Env};
use crate::ids::UserId;

/// The key the tokens are checked against. Exactly one algorithm is accepted, so a token
/// whose header names another (`none`, or HS256 against an RSA key) is refused outright.
#[derive(Clone)]
pub enum JwtKey {
    Hs256 { secret: Vec<u8> },
    Rs256 { public_pem: String },
    Es256 { public_pem: String },
}

impl std::fmt::Debug for JwtKey {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JwtKey::Hs256 { .. } => "JwtKey::Hs256(..)",
            JwtKey::Rs256 { .. } => "JwtKey::Rs256(..)",
            JwtKey::Es256 { .. } => "JwtKey::Es256(..)",
        })
    }
}

/// Shortest HS256 secret we accept: RFC 7518 §3.2 asks for a key at least as long as the hash.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub key: JwtKey,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
}

impl JwtSettings {
    /// `JWT_ALGORITHM` (HS256 | RS256 | ES256, default HS256), `JWT_SECRET` or `JWT_PUBLIC_KEY`,
    /// and the optional `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_LEEWAY_SECONDS` (default 30).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let algorithm = env.optional("JWT_ALGORITHM").unwrap_or_else(|| "HS256".to_owned());
        let key = match algorithm.as_str() {
            "HS256" => JwtKey::Hs256 { secret: env.required("JWT_SECRET")?.into_bytes() },
            "RS256" => JwtKey::Rs256 { public_pem: env.required("JWT_PUBLIC_KEY")? },
            "ES256" => JwtKey::Es256 { public_pem: env.required("JWT_PUBLIC_KEY")? },
            _ => {
                return Err(ConfigError::invalid("JWT_ALGORITHM", "expected HS256, RS256 or ES256"));
            }
        };
        Ok(JwtSettings {
            key,
            issuer: env.optional("JWT_ISSUER"),
            audience: env.optional("JWT_AUDIENCE"),
            leeway_seconds: env.parsed_or("JWT_LEEWAY_SECONDS", 30)?,
        })
    }
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
    #[error("token algorithm is not the configured one")]
    WrongAlgorithm,
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

/// Both optional so a missing claim is reported as such rather than as a malformed token;
/// the validation's required-claims list rejects them first anyway.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<u64>,
}

/// Verifies tokens against one key. Build once per cold start; keys are parsed here.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").field("algorithms", &self.validation.algorithms).finish()
    }
}

impl TokenVerifier {
    pub fn new(settings: &JwtSettings) -> Result<Self, ConfigError> {
        let (algorithm, key) = match &settings.key {
            JwtKey::Hs256 { secret } => {
                if secret.len() < MIN_HS256_SECRET_BYTES {
                    return Err(ConfigError::invalid("JWT_SECRET", "shorter than 32 bytes"));
                }
                (Algorithm::HS256, DecodingKey::from_secret(secret))
            }
            JwtKey::Rs256 { public_pem } => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(public_pem.as_bytes())
                    .map_err(|_| ConfigError::invalid("JWT_PUBLIC_KEY", "not an RSA public key PEM"))?,
            ),
            JwtKey::Es256 { public_pem } => (
                Algorithm::ES256,
                DecodingKey::from_ec_pem(public_pem.as_bytes())
                    .map_err(|_| ConfigError::invalid("JWT_PUBLIC_KEY", "not an EC public key PEM"))?,
            ),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = settings.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &settings.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(TokenVerifier { key, validation })
    }

    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| classify(e.kind()))?;
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

/// The context key the WebSocket authorizer puts the user id under. API Gateway hands the
/// context to every route of the connection as `requestContext.authorizer.userId`.
pub const CONTEXT_USER_ID: &str = "userId";

/// The caller of a WebSocket route, from the authorizer context API Gateway attached to it.
/// Identity never comes from a message body.
pub fn user_from_authorizer_context(fields: &std::collections::HashMap<String, serde_json::Value>) -> Option<UserId> {
    fields.get(CONTEXT_USER_ID).and_then(|v| v.as_str()).and_then(|raw| UserId::parse(raw).ok())
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
    let claims = DevClaims { sub: user.as_str(), iat: now, exp: now + ttl_seconds, iss: issuer, aud: audience };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";
    const RSA_PRIVATE: &str = include_str!("../testdata/rsa-private.pem");
    const RSA_PUBLIC: &str = include_str!("../testdata/rsa-public.pem");
    const EC_PRIVATE: &str = include_str!("../testdata/ec-private.pem");
    const EC_PUBLIC: &str = include_str!("../testdata/ec-public.pem");

    fn now() -> u64 {
        crate::clock::epoch_seconds()
    }

    fn settings(key: JwtKey) -> JwtSettings {
        JwtSettings { key, issuer: None, audience: None, leeway_seconds: 0 }
    }

    fn hs() -> TokenVerifier {
        TokenVerifier::new(&settings(JwtKey::Hs256 { secret: SECRET.to_vec() })).expect("valid settings")
    }

    fn sign(alg: Algorithm, key: &EncodingKey, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(alg), &claims, key).expect("signing works")
    }

    fn hs_token(claims: serde_json::Value) -> String {
        sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), claims)
    }

    #[test]
    fn a_valid_hs256_token_yields_its_subject() {
        let exp = now() + 600;
        let identity = hs().verify(&hs_token(json!({"sub": "alice", "exp": exp}))).expect("valid");
        assert_eq!(identity, Identity { user: UserId::parse("alice").expect("id"), expires_at: exp });
    }

    #[test]
    fn minted_dev_tokens_verify() {
        let user = UserId::parse("bob").expect("id");
        let token = mint_hs256(SECRET, &user, now(), 60, None, None).expect("mint");
        assert_eq!(hs().verify(&token).map(|i| i.user), Ok(user));
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused() {
        let expired = hs_token(json!({"sub": "alice", "exp": now() - 3600}));
        assert_eq!(hs().verify(&expired), Err(AuthError::Expired));
        let early = hs_token(json!({"sub": "alice", "exp": now() + 7200, "nbf": now() + 3600}));
        assert_eq!(hs().verify(&early), Err(AuthError::NotYetValid));
    }

    #[test]
    fn a_token_without_exp_or_sub_is_refused() {
        assert_eq!(hs().verify(&hs_token(json!({"sub": "alice"}))), Err(AuthError::MissingClaim));
        assert_eq!(hs().verify(&hs_token(json!({"exp": now() + 60}))), Err(AuthError::MissingClaim));
    }

    #[test]
    fn a_subject_that_is_not_a_user_id_is_refused() {
        let token = hs_token(json!({"sub": "../../etc", "exp": now() + 60}));
        assert_eq!(hs().verify(&token), Err(AuthError::BadSubject));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let token = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(b"another-secret-another-secret-another"),
            json!({"sub": "alice", "exp": now() + 60}),
        );
        assert_eq!(hs().verify(&token), Err(AuthError::BadSignature));
    }

    #[test]
    fn missing_and_garbage_tokens_are_refused() {
        assert_eq!(hs().verify(""), Err(AuthError::Missing));
        assert_eq!(hs().verify("   "), Err(AuthError::Missing));
        assert_eq!(hs().verify("not-a-jwt"), Err(AuthError::Malformed));
        assert_eq!(hs().verify("a.b.c"), Err(AuthError::Malformed));
    }

    fn b64(value: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn alg_none_is_refused() {
        let header = b64(&json!({"alg": "none", "typ": "JWT"}));
        let claims = b64(&json!({"sub": "alice", "exp": now() + 60}));
        for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
            assert!(hs().verify(&token).is_err(), "{token} was accepted");
        }
        let header = b64(&json!({"alg": "None"}));
        assert!(hs().verify(&format!("{header}.{claims}.")).is_err());
    }

    #[test]
    fn an_hs256_token_keyed_with_the_rsa_public_key_is_refused() {
        // Algorithm confusion: the attacker signs HS256 using the (public) RSA key as the secret.
        let verifier =
            TokenVerifier::new(&settings(JwtKey::Rs256 { public_pem: RSA_PUBLIC.into() })).expect("valid settings");
        let forged = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
            json!({"sub": "alice", "exp": now() + 60}),
        );
        assert_eq!(verifier.verify(&forged), Err(AuthError::WrongAlgorithm));
    }

    #[test]
    fn rs256_and_es256_tokens_verify_against_their_public_keys() {
        let claims = json!({"sub": "alice", "exp": now() + 60});
        let rs = TokenVerifier::new(&settings(JwtKey::Rs256 { public_pem: RSA_PUBLIC.into() })).expect("rs");
        let rs_key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa key");
        assert!(rs.verify(&sign(Algorithm::RS256, &rs_key, claims.clone())).is_ok());

        let es = TokenVerifier::new(&settings(JwtKey::Es256 { public_pem: EC_PUBLIC.into() })).expect("es");
        let es_key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("ec key");
        let es_token = sign(Algorithm::ES256, &es_key, claims.clone());
        assert!(es.verify(&es_token).is_ok());
        // The ES256 token means nothing to the RS256 verifier, and an HS256 one nothing to either.
        assert_eq!(rs.verify(&es_token), Err(AuthError::WrongAlgorithm));
        assert_eq!(es.verify(&hs_token(claims)), Err(AuthError::WrongAlgorithm));
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let verifier = TokenVerifier::new(&JwtSettings {
            issuer: Some("https://idp.example".into()),
            audience: Some("jobcast".into()),
            ..settings(JwtKey::Hs256 { secret: SECRET.to_vec() })
        })
        .expect("valid settings");
        let exp = now() + 60;
        let ok = hs_token(json!({"sub": "a", "exp": exp, "iss": "https://idp.example", "aud": "jobcast"}));
        assert!(verifier.verify(&ok).is_ok());
        let wrong_iss = hs_token(json!({"sub": "a", "exp": exp, "iss": "https://evil", "aud": "jobcast"}));
        assert_eq!(verifier.verify(&wrong_iss), Err(AuthError::WrongIssuer));
        let wrong_aud = hs_token(json!({"sub": "a", "exp": exp, "iss": "https://idp.example", "aud": "x"}));
        assert_eq!(verifier.verify(&wrong_aud), Err(AuthError::WrongAudience));
        let no_aud = hs_token(json!({"sub": "a", "exp": exp, "iss": "https://idp.example"}));
        assert_eq!(verifier.verify(&no_aud), Err(AuthError::MissingClaim));
    }

    #[test]
    fn weak_secrets_and_bad_keys_are_configuration_errors() {
        assert!(TokenVerifier::new(&settings(JwtKey::Hs256 { secret: b"short".to_vec() })).is_err());
        assert!(TokenVerifier::new(&settings(JwtKey::Rs256 { public_pem: "nope".into() })).is_err());
        assert!(TokenVerifier::new(&settings(JwtKey::Es256 { public_pem: RSA_PUBLIC.into() })).is_err());
    }
}
