//! The verifier's tests: configured keys here; the JWKS cache in `jwks`, the environment in
//! `settings`.

use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

mod jwks;
mod settings;

pub(super) const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";
pub(super) const RSA_PRIVATE: &str = include_str!("../../../testdata/rsa-private.pem");
pub(super) const RSA_PUBLIC: &str = include_str!("../../../testdata/rsa-public.pem");
pub(super) const RSA2_PRIVATE: &str = include_str!("../../../testdata/rsa2-private.pem");
pub(super) const EC_PRIVATE: &str = include_str!("../../../testdata/ec-private.pem");
pub(super) const EC_PUBLIC: &str = include_str!("../../../testdata/ec-public.pem");
pub(super) const ISSUER: &str = "https://idp.example";
pub(super) const AUDIENCE: &str = "jobcast";

pub(super) fn now() -> u64 {
    crate::clock::epoch_seconds()
}

pub(super) fn settings() -> JwtSettings {
    JwtSettings { secret_arn: None, public_key: None, jwks: None, issuer: None, audience: None, leeway_seconds: 0 }
}

pub(super) fn hs_settings() -> JwtSettings {
    JwtSettings { secret_arn: Some("arn:aws:secretsmanager:us-east-1:0:secret:jwt".into()), ..settings() }
}

pub(super) fn idp(public_key: Option<PublicKey>, jwks: Option<JwksSettings>) -> JwtSettings {
    JwtSettings { public_key, jwks, issuer: Some(ISSUER.into()), audience: Some(AUDIENCE.into()), ..settings() }
}

pub(super) fn hs() -> TokenVerifier {
    TokenVerifier::new(&hs_settings(), Some(SECRET), None).expect("valid settings")
}

pub(super) fn sign(alg: Algorithm, key: &EncodingKey, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, key).expect("signing works")
}

pub(super) fn sign_kid(alg: Algorithm, key: &EncodingKey, kid: &str, claims: serde_json::Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, key).expect("signing works")
}

pub(super) fn hs_token(claims: serde_json::Value) -> String {
    sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), claims)
}

pub(super) fn idp_claims() -> serde_json::Value {
    json!({"sub": "alice", "exp": now() + 60, "iss": ISSUER, "aud": AUDIENCE})
}

pub(super) fn rsa(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).expect("rsa key")
}

#[tokio::test]
async fn a_valid_hs256_token_yields_its_subject() {
    let exp = now() + 600;
    let identity = hs().verify(&hs_token(json!({"sub": "alice", "exp": exp}))).await.expect("valid");
    assert_eq!(identity, Identity { user: UserId::parse("alice").expect("id"), expires_at: exp });
}

#[tokio::test]
async fn minted_dev_tokens_verify() {
    let user = UserId::parse("bob").expect("id");
    let token = mint_hs256(SECRET, &user, now(), 60, None, None).expect("mint");
    assert_eq!(hs().verify(&token).await.map(|i| i.user), Ok(user));
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let expired = hs_token(json!({"sub": "alice", "exp": now() - 3600}));
    assert_eq!(hs().verify(&expired).await, Err(AuthError::Expired));
    let early = hs_token(json!({"sub": "alice", "exp": now() + 7200, "nbf": now() + 3600}));
    assert_eq!(hs().verify(&early).await, Err(AuthError::NotYetValid));
}

#[tokio::test]
async fn a_token_without_exp_or_sub_is_refused() {
    assert_eq!(hs().verify(&hs_token(json!({"sub": "alice"}))).await, Err(AuthError::MissingClaim));
    assert_eq!(hs().verify(&hs_token(json!({"exp": now() + 60}))).await, Err(AuthError::MissingClaim));
}

#[tokio::test]
async fn a_subject_that_is_not_a_user_id_is_refused() {
    let token = hs_token(json!({"sub": "../../etc", "exp": now() + 60}));
    assert_eq!(hs().verify(&token).await, Err(AuthError::BadSubject));
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let token = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"another-secret-another-secret-another"),
        json!({"sub": "alice", "exp": now() + 60}),
    );
    assert_eq!(hs().verify(&token).await, Err(AuthError::BadSignature));
}

#[tokio::test]
async fn missing_and_garbage_tokens_are_refused() {
    assert_eq!(hs().verify("").await, Err(AuthError::Missing));
    assert_eq!(hs().verify("   ").await, Err(AuthError::Missing));
    assert_eq!(hs().verify("not-a-jwt").await, Err(AuthError::Malformed));
    assert_eq!(hs().verify("a.b.c").await, Err(AuthError::Malformed));
}

pub(super) fn b64(value: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn alg_none_is_refused() {
    let header = b64(&json!({"alg": "none", "typ": "JWT"}));
    let claims = b64(&json!({"sub": "alice", "exp": now() + 60}));
    for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
        assert!(hs().verify(&token).await.is_err(), "{token} was accepted");
    }
    let header = b64(&json!({"alg": "None"}));
    assert!(hs().verify(&format!("{header}.{claims}.")).await.is_err());
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_rsa_public_key_is_refused() {
    // Algorithm confusion: the attacker signs HS256 using the (public) RSA key as the secret.
    let public_key = PublicKey { algorithm: Algorithm::RS256, pem: RSA_PUBLIC.into() };
    let verifier = TokenVerifier::new(&idp(Some(public_key), None), None, None).expect("valid settings");
    let forged = sign(Algorithm::HS256, &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()), idp_claims());
    assert_eq!(verifier.verify(&forged).await, Err(AuthError::WrongAlgorithm));
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_their_public_keys() {
    let rs_key = PublicKey { algorithm: Algorithm::RS256, pem: RSA_PUBLIC.into() };
    let rs = TokenVerifier::new(&idp(Some(rs_key), None), None, None).expect("rs");
    assert!(rs.verify(&sign(Algorithm::RS256, &rsa(RSA_PRIVATE), idp_claims())).await.is_ok());

    let es_key = PublicKey { algorithm: Algorithm::ES256, pem: EC_PUBLIC.into() };
    let es = TokenVerifier::new(&idp(Some(es_key), None), None, None).expect("es");
    let es_private = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("ec key");
    let es_token = sign(Algorithm::ES256, &es_private, idp_claims());
    assert!(es.verify(&es_token).await.is_ok());
    // The ES256 token means nothing to the RS256 verifier, and an HS256 one nothing to either.
    assert_eq!(rs.verify(&es_token).await, Err(AuthError::WrongAlgorithm));
    assert_eq!(es.verify(&hs_token(idp_claims())).await, Err(AuthError::WrongAlgorithm));
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let settings = JwtSettings { issuer: Some(ISSUER.into()), audience: Some(AUDIENCE.into()), ..hs_settings() };
    let verifier = TokenVerifier::new(&settings, Some(SECRET), None).expect("valid settings");
    let exp = now() + 60;
    let ok = hs_token(json!({"sub": "a", "exp": exp, "iss": ISSUER, "aud": AUDIENCE}));
    assert!(verifier.verify(&ok).await.is_ok());
    let wrong_iss = hs_token(json!({"sub": "a", "exp": exp, "iss": "https://evil", "aud": AUDIENCE}));
    assert_eq!(verifier.verify(&wrong_iss).await, Err(AuthError::WrongIssuer));
    let wrong_aud = hs_token(json!({"sub": "a", "exp": exp, "iss": ISSUER, "aud": "x"}));
    assert_eq!(verifier.verify(&wrong_aud).await, Err(AuthError::WrongAudience));
    let no_aud = hs_token(json!({"sub": "a", "exp": exp, "iss": ISSUER}));
    assert_eq!(verifier.verify(&no_aud).await, Err(AuthError::MissingClaim));
}

#[test]
fn weak_secrets_and_bad_keys_are_configuration_errors() {
    assert!(TokenVerifier::new(&hs_settings(), Some(b"short"), None).is_err());
    assert!(TokenVerifier::new(&hs_settings(), None, None).is_err(), "the secret was never read");
    let not_a_key = PublicKey { algorithm: Algorithm::RS256, pem: "nope".into() };
    assert!(TokenVerifier::new(&idp(Some(not_a_key), None), None, None).is_err());
    let wrong_kind = PublicKey { algorithm: Algorithm::ES256, pem: RSA_PUBLIC.into() };
    assert!(TokenVerifier::new(&idp(Some(wrong_kind), None), None, None).is_err());
    assert!(TokenVerifier::new(&settings(), None, None).is_err(), "no key at all");
}

#[test]
fn an_identity_providers_keys_require_issuer_and_audience() {
    let public_key = PublicKey { algorithm: Algorithm::RS256, pem: RSA_PUBLIC.into() };
    for (issuer, audience, missing) in
        [(None, Some(AUDIENCE), "JWT_ISSUER"), (Some(ISSUER), None, "JWT_AUDIENCE"), (None, None, "JWT_ISSUER")]
    {
        let settings = JwtSettings {
            issuer: issuer.map(Into::into),
            audience: audience.map(Into::into),
            ..idp(Some(public_key.clone()), None)
        };
        let err = TokenVerifier::new(&settings, None, None).expect_err(missing);
        assert!(err.to_string().contains(missing), "{err}");
    }
}
