use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";
const RSA_PRIVATE: &str = include_str!("../../testdata/rsa-private.pem");
const RSA_PUBLIC: &str = include_str!("../../testdata/rsa-public.pem");
const RSA2_PRIVATE: &str = include_str!("../../testdata/rsa2-private.pem");
const EC_PRIVATE: &str = include_str!("../../testdata/ec-private.pem");
const EC_PUBLIC: &str = include_str!("../../testdata/ec-public.pem");
const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "jobcast";

fn now() -> u64 {
    crate::clock::epoch_seconds()
}

fn settings() -> JwtSettings {
    JwtSettings { secret_arn: None, public_key: None, jwks: None, issuer: None, audience: None, leeway_seconds: 0 }
}

fn hs_settings() -> JwtSettings {
    JwtSettings { secret_arn: Some("arn:aws:secretsmanager:us-east-1:0:secret:jwt".into()), ..settings() }
}

fn idp(public_key: Option<PublicKey>, jwks: Option<JwksSettings>) -> JwtSettings {
    JwtSettings { public_key, jwks, issuer: Some(ISSUER.into()), audience: Some(AUDIENCE.into()), ..settings() }
}

fn hs() -> TokenVerifier {
    TokenVerifier::new(&hs_settings(), Some(SECRET), None).expect("valid settings")
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, key).expect("signing works")
}

fn sign_kid(alg: Algorithm, key: &EncodingKey, kid: &str, claims: serde_json::Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, key).expect("signing works")
}

fn hs_token(claims: serde_json::Value) -> String {
    sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), claims)
}

fn idp_claims() -> serde_json::Value {
    json!({"sub": "alice", "exp": now() + 60, "iss": ISSUER, "aud": AUDIENCE})
}

fn rsa(pem: &str) -> EncodingKey {
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

fn b64(value: &serde_json::Value) -> String {
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

// ------------------------------------------------------------------ JWKS

/// A JWKS endpoint in memory: the document it serves (or a failure) and how often it was asked.
#[derive(Clone)]
struct FakeIdp {
    document: Arc<Mutex<Result<String, u16>>>,
    fetches: Arc<AtomicUsize>,
}

use std::sync::Arc;

impl Default for FakeIdp {
    fn default() -> Self {
        FakeIdp { document: Arc::new(Mutex::new(Err(404))), fetches: Arc::default() }
    }
}

impl FakeIdp {
    fn serving(keys: &[(&str, &str)]) -> Self {
        let idp = FakeIdp::default();
        idp.publish(keys);
        idp
    }

    fn publish(&self, keys: &[(&str, &str)]) {
        let keys: Vec<(&str, &[u8])> = keys.iter().map(|(kid, pem)| (*kid, pem.as_bytes())).collect();
        *self.document.lock().expect("lock") = Ok(dev_jwks(&keys).expect("jwks").to_string());
    }

    fn serve_raw(&self, body: serde_json::Value) {
        *self.document.lock().expect("lock") = Ok(body.to_string());
    }

    fn fail(&self, status: u16) {
        *self.document.lock().expect("lock") = Err(status);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn fetcher(&self) -> FetchKeys {
        let idp = self.clone();
        Arc::new(move || {
            idp.fetches.fetch_add(1, Ordering::SeqCst);
            let answer = idp.document.lock().expect("lock").clone();
            Box::pin(async move {
                answer.map_err(|status| KeysError::Status { url: "https://idp.example/jwks".into(), status })
            })
        })
    }

    fn verifier(&self, cache_for: Duration, min_refresh: Duration) -> TokenVerifier {
        let jwks =
            JwksSettings { location: JwksLocation::Url("https://idp.example/jwks".into()), cache_for, min_refresh };
        TokenVerifier::new(&idp(None, Some(jwks)), None, Some(self.fetcher())).expect("valid settings")
    }
}

const LONG: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_jwks_key_is_found_by_kid_and_fetched_once_for_many_tokens() {
    let idp = FakeIdp::serving(&[("k1", RSA_PRIVATE), ("k2", RSA2_PRIVATE)]);
    let verifier = idp.verifier(LONG, LONG);
    for _ in 0..5 {
        let k1 = sign_kid(Algorithm::RS256, &rsa(RSA_PRIVATE), "k1", idp_claims());
        let k2 = sign_kid(Algorithm::RS256, &rsa(RSA2_PRIVATE), "k2", idp_claims());
        assert!(verifier.verify(&k1).await.is_ok());
        assert!(verifier.verify(&k2).await.is_ok());
    }
    assert_eq!(idp.fetches(), 1, "the keys are cached across verifications");
    // A token signed by key 2 but naming key 1 fails on the signature.
    let swapped = sign_kid(Algorithm::RS256, &rsa(RSA2_PRIVATE), "k1", idp_claims());
    assert_eq!(verifier.verify(&swapped).await, Err(AuthError::BadSignature));
}

#[tokio::test]
async fn an_unknown_kid_refreshes_at_most_once_per_interval() {
    let idp = FakeIdp::serving(&[("k1", RSA_PRIVATE)]);
    let verifier = idp.verifier(LONG, LONG);
    let made_up: Vec<String> =
        (0..10).map(|i| sign_kid(Algorithm::RS256, &rsa(RSA_PRIVATE), &format!("x{i}"), idp_claims())).collect();
    for token in &made_up {
        assert_eq!(verifier.verify(token).await, Err(AuthError::UnknownKey));
    }
    assert_eq!(idp.fetches(), 1, "made-up kids must not each cost a fetch");
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_a_restart_and_the_old_one_ages_out() {
    let idp = FakeIdp::serving(&[("old", RSA_PRIVATE)]);
    let verifier = idp.verifier(Duration::from_millis(300), Duration::ZERO);
    let old = sign_kid(Algorithm::RS256, &rsa(RSA_PRIVATE), "old", idp_claims());
    assert!(verifier.verify(&old).await.is_ok());

    idp.publish(&[("new", RSA2_PRIVATE)]);
    let new = sign_kid(Algorithm::RS256, &rsa(RSA2_PRIVATE), "new", idp_claims());
    assert!(verifier.verify(&new).await.is_ok(), "an unknown kid refreshes the keys");
    assert_eq!(verifier.verify(&old).await, Err(AuthError::UnknownKey), "the refresh replaced the key set");
    assert_eq!(idp.fetches(), 3, "with no interval, each miss fetches");

    // Cached keys age out: a key removed later stops working once the cache expires.
    idp.publish(&[("newest", RSA_PRIVATE)]);
    assert!(verifier.verify(&new).await.is_ok(), "still cached");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(verifier.verify(&new).await, Err(AuthError::UnknownKey));
}

#[tokio::test]
async fn a_failing_endpoint_denies_with_a_reason_and_is_not_hammered() {
    let idp = FakeIdp::default();
    idp.fail(503);
    let verifier = idp.verifier(LONG, LONG);
    let token = sign_kid(Algorithm::RS256, &rsa(RSA_PRIVATE), "k1", idp_claims());
    for _ in 0..5 {
        let err = verifier.verify(&token).await.expect_err("no keys");
        assert!(matches!(&err, AuthError::KeysUnavailable(reason) if reason.contains("503")), "{err:?}");
    }
    assert_eq!(idp.fetches(), 1);
    // Once the endpoint is back and the interval has passed, the keys are fetched.
    let idp = FakeIdp::default();
    idp.fail(500);
    let verifier = idp.verifier(LONG, Duration::ZERO);
    assert!(matches!(verifier.verify(&token).await, Err(AuthError::KeysUnavailable(_))));
    idp.publish(&[("k1", RSA_PRIVATE)]);
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn keys_a_verifier_cannot_use_are_skipped_and_none_usable_is_an_error() {
    let rsa_jwk = dev_jwks(&[("sig", RSA_PRIVATE.as_bytes())]).expect("jwks")["keys"][0].clone();
    let mut enc = rsa_jwk.clone();
    enc["kid"] = "enc".into();
    enc["use"] = "enc".into();
    let oct =
        json!({"kty": "oct", "kid": "hmac", "k": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET)});
    let mut no_kid = rsa_jwk.clone();
    no_kid.as_object_mut().expect("object").remove("kid");
    let idp = FakeIdp::default();
    idp.serve_raw(json!({"keys": [rsa_jwk, enc, oct, no_kid, {"kty": "weird"}]}));
    let verifier = idp.verifier(LONG, Duration::ZERO);
    assert!(verifier.verify(&sign_kid(Algorithm::RS256, &rsa(RSA_PRIVATE), "sig", idp_claims())).await.is_ok());
    assert_eq!(
        verifier.verify(&sign_kid(Algorithm::RS256, &rsa(RSA_PRIVATE), "enc", idp_claims())).await,
        Err(AuthError::UnknownKey)
    );
    // An HMAC key published in a JWKS never verifies anything: HS256 goes to the configured secret only.
    let hs_with_kid = sign_kid(Algorithm::HS256, &EncodingKey::from_secret(SECRET), "hmac", idp_claims());
    assert_eq!(verifier.verify(&hs_with_kid).await, Err(AuthError::WrongAlgorithm));

    let idp = FakeIdp::default();
    idp.serve_raw(json!({"keys": [{"kty": "oct", "kid": "hmac", "k": "AAAA"}]}));
    let verifier = idp.verifier(LONG, LONG);
    let err = verifier.verify(&sign_kid(Algorithm::RS256, &rsa(RSA_PRIVATE), "sig", idp_claims())).await;
    assert!(matches!(&err, Err(AuthError::KeysUnavailable(reason)) if reason.contains("no RS256")), "{err:?}");
}

#[tokio::test]
async fn a_jwks_token_must_carry_the_configured_issuer_and_audience() {
    let idp = FakeIdp::serving(&[("k1", RSA_PRIVATE)]);
    let verifier = idp.verifier(LONG, LONG);
    let key = rsa(RSA_PRIVATE);
    let other_app = json!({"sub": "alice", "exp": now() + 60, "iss": ISSUER, "aud": "another-app"});
    assert_eq!(
        verifier.verify(&sign_kid(Algorithm::RS256, &key, "k1", other_app)).await,
        Err(AuthError::WrongAudience)
    );
    let no_iss = json!({"sub": "alice", "exp": now() + 60, "aud": AUDIENCE});
    assert_eq!(verifier.verify(&sign_kid(Algorithm::RS256, &key, "k1", no_iss)).await, Err(AuthError::MissingClaim));
    let minted = mint_rs256(
        RSA_PRIVATE.as_bytes(),
        "k1",
        DevToken {
            user: &UserId::parse("carol").expect("id"),
            now: now(),
            ttl_seconds: 60,
            issuer: Some(ISSUER),
            audience: Some(AUDIENCE),
        },
    )
    .expect("mint");
    assert_eq!(verifier.verify(&minted).await.map(|i| i.user.to_string()), Ok("carol".to_owned()));
}

#[test]
fn settings_come_from_the_environment_and_refuse_a_plaintext_secret() {
    let env = Env::from_pairs([("JWT_SECRET", "0123456789abcdef0123456789abcdef")]);
    let err = JwtSettings::from_env(&env).expect_err("plaintext secret");
    assert!(err.to_string().contains("JWT_SECRET_ARN"), "{err}");

    let env = Env::from_pairs([("JWT_SECRET_ARN", "jwt-secret")]);
    let hs = JwtSettings::from_env(&env).expect("secret only");
    assert_eq!((hs.secret_arn.as_deref(), hs.leeway_seconds, hs.jwks), (Some("jwt-secret"), 30, None));

    let env = Env::from_pairs([
        ("JWT_JWKS_URL", "https://idp.example/jwks.json"),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_JWKS_CACHE_SECONDS", "5"),
    ]);
    let jwks = JwtSettings::from_env(&env).expect("jwks").jwks.expect("jwks set");
    assert_eq!(jwks.location, JwksLocation::Url("https://idp.example/jwks.json".into()));
    assert_eq!((jwks.cache_for, jwks.min_refresh), (Duration::from_secs(5), Duration::from_secs(60)));

    let env = Env::from_pairs([("JWT_DISCOVERY", "true"), ("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)]);
    let discovered = JwtSettings::from_env(&env).expect("discovery").jwks.expect("jwks set");
    assert_eq!(discovered.location, JwksLocation::Discovery { issuer: ISSUER.into() });

    for (pairs, names) in [
        (vec![("JWT_JWKS_URL", "https://idp.example/jwks.json")], "JWT_ISSUER"),
        (vec![("JWT_JWKS_URL", "ftp://x"), ("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)], "JWT_JWKS_URL"),
        (
            vec![("JWT_JWKS_URL", "http://idp.example/jwks"), ("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)],
            "JWT_JWKS_URL",
        ),
        (
            vec![("JWT_DISCOVERY", "true"), ("JWT_ISSUER", "http://idp.example"), ("JWT_AUDIENCE", AUDIENCE)],
            "JWT_ISSUER",
        ),
        (vec![("JWT_PUBLIC_KEY", RSA_PUBLIC), ("JWT_ISSUER", ISSUER)], "JWT_AUDIENCE"),
        (vec![("JWT_PUBLIC_KEY", RSA_PUBLIC), ("JWT_PUBLIC_KEY_ALGORITHM", "HS256")], "JWT_PUBLIC_KEY_ALGORITHM"),
        (vec![("JWT_DISCOVERY", "true")], "JWT_ISSUER"),
        (vec![], "JWT_SECRET_ARN"),
    ] {
        let err = JwtSettings::from_env(&Env::from_pairs(pairs)).expect_err(names);
        assert!(err.to_string().contains(names), "{names}: {err}");
    }
}

#[test]
fn the_token_expiry_is_read_from_the_context_as_a_number_or_a_string() {
    let fields = |value: serde_json::Value| HashMap::from([(CONTEXT_TOKEN_EXPIRES_AT.to_owned(), value)]);
    assert_eq!(token_expiry_from_authorizer_context(&fields(json!(1_800_000_000u64))), Some(1_800_000_000));
    assert_eq!(token_expiry_from_authorizer_context(&fields(json!("1800000000"))), Some(1_800_000_000));
    assert_eq!(token_expiry_from_authorizer_context(&fields(json!("soon"))), None);
    assert_eq!(token_expiry_from_authorizer_context(&HashMap::new()), None);
}

#[test]
fn keys_come_over_https_or_from_loopback_only() {
    for url in ["https://idp.example/jwks", "http://127.0.0.1:4677/jwks.json", "http://localhost/x", "http://[::1]:80/"]
    {
        assert!(is_trusted_url(url), "{url}");
    }
    for url in
        ["http://idp.example/jwks", "http://127.0.0.1.evil.example/", "http://evil@127.0.0.1/", "ftp://127.0.0.1/", ""]
    {
        assert!(!is_trusted_url(url), "{url}");
    }
}

#[test]
fn a_discovery_document_must_name_the_configured_issuer_and_an_https_jwks() {
    let doc = |issuer: &str, jwks: &str| json!({"issuer": issuer, "jwks_uri": jwks}).to_string();
    assert_eq!(
        jwks::discovered_jwks_uri(&doc(ISSUER, "https://idp.example/keys"), ISSUER).as_deref(),
        Ok("https://idp.example/keys")
    );
    let other = jwks::discovered_jwks_uri(&doc("https://evil.example", "https://evil.example/keys"), ISSUER);
    assert!(other.is_err_and(|e| e.contains("evil")));
    assert!(jwks::discovered_jwks_uri(&doc(ISSUER, "http://idp.example/keys"), ISSUER).is_err());
    assert!(jwks::discovered_jwks_uri("{}", ISSUER).is_err());
}
