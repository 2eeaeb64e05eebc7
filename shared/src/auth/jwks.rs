//! An identity provider's signing keys (a JWKS document), fetched over HTTP(S) and cached for
//! as long as the execution environment lives.
//!
//! A token whose `kid` is not in the cache triggers a refresh, at most once per
//! `min_refresh`, so tokens with made-up `kid`s cost one fetch per interval; keys older than
//! `cache_for` are fetched again on first use. When the keys cannot be had (the endpoint fails
//! and the cache is stale), verification fails with [`AuthError::KeysUnavailable`]: the caller
//! denies and logs, nothing panics.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::AuthError;

/// Fetches the JWKS document, returning its body. Boxed so the verifier stays one concrete type
/// whether the keys come over HTTP or, in tests, from memory.
pub type FetchKeys = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, KeysError>> + Send>> + Send + Sync>;

/// Largest JWKS (or discovery) document read: real ones are a few KiB.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Why the keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("fetching {url}")]
    Fetch {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is over {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge { url: String },
    #[error("not a usable key set: {0}")]
    Invalid(String),
}

struct Key {
    algorithm: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    /// Why the last fetch failed, if it did.
    last_error: Option<String>,
}

/// The cached keys of one identity provider.
pub struct JwksCache {
    fetch: FetchKeys,
    cache_for: Duration,
    min_refresh: Duration,
    // A tokio mutex, held across the fetch: of concurrent verifications that miss, one fetches
    // and the others then find the keys.
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").field("cache_for", &self.cache_for).field("min_refresh", &self.min_refresh).finish()
    }
}

impl JwksCache {
    pub fn new(fetch: FetchKeys, cache_for: Duration, min_refresh: Duration) -> Self {
        JwksCache { fetch, cache_for, min_refresh, state: tokio::sync::Mutex::new(State::default()) }
    }

    /// The key `kid` for a token signed with `alg`.
    pub async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        let mut state = self.state.lock().await;
        let hit = self.is_fresh(&state) && state.keys.contains_key(kid);
        if !hit && self.may_fetch(&state) {
            self.refresh(&mut state).await;
        }
        if !self.is_fresh(&state) {
            let reason = state.last_error.clone().unwrap_or_else(|| "not fetched yet".to_owned());
            return Err(AuthError::KeysUnavailable(reason));
        }
        match state.keys.get(kid) {
            Some(key) if key.algorithm == alg => Ok(key.key.clone()),
            Some(_) => Err(AuthError::WrongAlgorithm),
            None => Err(AuthError::UnknownKey),
        }
    }

    fn is_fresh(&self, state: &State) -> bool {
        state.fetched_at.is_some_and(|at| at.elapsed() < self.cache_for)
    }

    /// At most one fetch per `min_refresh`, except that keys which merely aged out (the last
    /// fetch worked) are fetched again at once.
    fn may_fetch(&self, state: &State) -> bool {
        match state.last_attempt {
            None => true,
            Some(at) => at.elapsed() >= self.min_refresh || (!self.is_fresh(state) && state.last_error.is_none()),
        }
    }

    async fn refresh(&self, state: &mut State) {
        state.last_attempt = Some(Instant::now());
        let outcome = match (self.fetch)().await {
            Ok(body) => parse_key_set(&body),
            Err(err) => Err(err),
        };
        match outcome {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched the identity provider's keys");
                state.keys = keys;
                state.fetched_at = Some(Instant::now());
                state.last_error = None;
            }
            Err(err) => {
                let reason = error_chain(&err);
                tracing::warn!(error = %reason, "could not fetch the identity provider's keys");
                state.last_error = Some(reason);
            }
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// The usable signing keys of a JWKS document, by `kid`. A key this verifier cannot use (an
/// encryption key, an HMAC `oct` key, another curve, no `kid`) is skipped, not fatal: providers
/// publish such keys beside the signing ones. A document with no usable key is an error, so a
/// broken document never replaces good keys.
fn parse_key_set(body: &str) -> Result<HashMap<String, Key>, KeysError> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_str(body).map_err(|e| KeysError::Invalid(format!("not a JWKS document ({e})")))?;
    let mut out = HashMap::new();
    for raw in document.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else { continue };
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Some(algorithm) = signing_algorithm(&jwk) else { continue };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        out.insert(kid, Key { algorithm, key });
    }
    if out.is_empty() {
        return Err(KeysError::Invalid("no RS256 or ES256 signing key with a kid".to_owned()));
    }
    Ok(out)
}

/// RS256 for RSA keys and ES256 for P-256 keys, unless the key names another algorithm.
fn signing_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(implied),
        Some(KeyAlgorithm::RS256) if implied == Algorithm::RS256 => Some(implied),
        Some(KeyAlgorithm::ES256) if implied == Algorithm::ES256 => Some(implied),
        Some(_) => None,
    }
}

/// The `jwks_uri` of an OpenID discovery document, which must name `issuer` exactly (OpenID
/// Connect Discovery §4.3: otherwise another issuer's keys could be served) and point at an
/// https URL.
#[cfg(any(test, feature = "tokens"))]
pub(super) fn discovered_jwks_uri(body: &str, issuer: &str) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: String,
    }
    let discovery: Discovery = serde_json::from_str(body).map_err(|e| format!("not a discovery document ({e})"))?;
    if discovery.issuer != issuer {
        return Err(format!("names the issuer {:?}, not {issuer:?}", discovery.issuer));
    }
    if !super::is_trusted_url(&discovery.jwks_uri) {
        return Err("its jwks_uri is not an https URL".to_owned());
    }
    Ok(discovery.jwks_uri)
}

#[cfg(feature = "tokens")]
pub use http::http_fetcher;

#[cfg(feature = "tokens")]
mod http {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{FetchKeys, KeysError, MAX_DOCUMENT_BYTES};
    use crate::auth::JwksLocation;
    use crate::config::ConfigError;

    /// Fetches the JWKS over HTTP(S) (TLS through rustls on aws-lc, with the web PKI roots).
    /// With [`JwksLocation::Discovery`], each fetch first reads the issuer's discovery document.
    pub fn http_fetcher(location: JwksLocation, timeout: Duration) -> Result<FetchKeys, ConfigError> {
        // reqwest's rustls without a bundled provider uses the process default; the SDK may
        // have installed the same one already, which is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect could lead from https to http, or to another host: none are followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::invalid("JWT_JWKS_URL", format!("cannot build an HTTP client: {e}")))?;
        let location = Arc::new(location);
        Ok(Arc::new(move || {
            let client = client.clone();
            let location = Arc::clone(&location);
            Box::pin(async move {
                let url = match location.as_ref() {
                    JwksLocation::Url(url) => url.clone(),
                    JwksLocation::Discovery { issuer } => jwks_uri(&client, issuer).await?,
                };
                get_bounded(&client, &url).await
            })
        }))
    }

    async fn jwks_uri(client: &reqwest::Client, issuer: &str) -> Result<String, KeysError> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let body = get_bounded(client, &url).await?;
        super::discovered_jwks_uri(&body, issuer).map_err(|reason| KeysError::Invalid(format!("{url}: {reason}")))
    }

    async fn get_bounded(client: &reqwest::Client, url: &str) -> Result<String, KeysError> {
        let fetch_error = |source: reqwest::Error| KeysError::Fetch { url: url.to_owned(), source: Box::new(source) };
        let mut response =
            client.get(url).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(fetch_error)?;
        if !response.status().is_success() {
            return Err(KeysError::Status { url: url.to_owned(), status: response.status().as_u16() });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(KeysError::TooLarge { url: url.to_owned() });
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| KeysError::Invalid(format!("{url} is not UTF-8")))
    }
}
