use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::EncodingKey;
use serde_json::json;

use super::*;

/// A JWKS endpoint in memory: the document it serves (or a failure) and how often it was asked.
#[derive(Clone)]
struct FakeIdp {
    document: Arc<Mutex<Result<String, u16>>>,
    fetches: Arc<AtomicUsize>,
}

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
fn a_discovery_document_must_name_the_configured_issuer_and_an_https_jwks() {
    let doc = |issuer: &str, jwks: &str| json!({"issuer": issuer, "jwks_uri": jwks}).to_string();
    assert_eq!(
        crate::auth::jwks::discovered_jwks_uri(&doc(ISSUER, "https://idp.example/keys"), ISSUER).as_deref(),
        Ok("https://idp.example/keys")
    );
    let other =
        crate::auth::jwks::discovered_jwks_uri(&doc("https://evil.example", "https://evil.example/keys"), ISSUER);
    assert!(other.is_err_and(|e| e.contains("evil")));
    assert!(crate::auth::jwks::discovered_jwks_uri(&doc(ISSUER, "http://idp.example/keys"), ISSUER).is_err());
    assert!(crate::auth::jwks::discovered_jwks_uri("{}", ISSUER).is_err());
}
