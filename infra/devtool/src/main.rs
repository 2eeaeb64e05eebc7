//! Developer tool for the local stack.
//!
//! ```text
//! jobcast-dev token --user NAME [--ttl SECONDS] [--rs256]
//!     a dev token for the local stack (variables from .local/<instance>/stack.env): HS256 with
//!     the stack's secret (JOBCAST_JWT_SECRET), or with --rs256 as the dev identity provider
//!     signs them (JOBCAST_IDP_KEY, kid dev-1); iss and aud from JOBCAST_JWT_ISSUER/_AUDIENCE
//! jobcast-dev jwks KID=PRIVATE_KEY.pem...
//!     the JWKS publishing those RS256 keys' public halves (what the dev identity provider serves)
//! jobcast-dev fanout CONNECTIONS_FILE PAYLOAD_BYTES CONCURRENCY
//!     one update to every connection id in the file through the Management API at
//!     JOBCAST_MANAGEMENT_ENDPOINT, with the functions' own fan-out (benchmark P5); prints JSON
//! ```

use std::time::Instant;

use anyhow::{Context as _, bail};
use jobcast_shared::auth::{DevToken, dev_jwks, mint_hs256, mint_rs256};
use jobcast_shared::clock::epoch_seconds;
use jobcast_shared::ids::{ConnectionId, UserId};
use jobcast_shared::push::{ManagementApiPusher, fan_out};

const USAGE: &str = "usage: jobcast-dev token --user NAME [--ttl SECONDS] [--rs256] | jwks KID=KEY.pem... | fanout FILE PAYLOAD_BYTES CONCURRENCY";

/// The kid of the dev identity provider's key (infra/lib.sh `start_idp`).
const DEV_KID: &str = "dev-1";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("token") => token(args),
        Some("jwks") => jwks(args),
        Some("fanout") => {
            let file = args.next().context(USAGE)?;
            let payload_bytes: usize = args.next().context(USAGE)?.parse()?;
            let concurrency: usize = args.next().context(USAGE)?.parse()?;
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(fanout(
                &file,
                payload_bytes,
                concurrency,
            ))
        }
        _ => bail!(USAGE),
    }
}

fn token(mut args: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut user = None;
    let mut ttl = 3600u64;
    let mut rs256 = false;
    while let Some(flag) = args.next() {
        if flag == "--rs256" {
            rs256 = true;
            continue;
        }
        let value = args.next().with_context(|| format!("{flag} needs a value; {USAGE}"))?;
        match flag.as_str() {
            "--user" => user = Some(UserId::parse(value).context("--user")?),
            "--ttl" => ttl = value.parse().context("--ttl must be a number of seconds")?,
            _ => bail!("unknown flag {flag}; {USAGE}"),
        }
    }
    let user = user.context(USAGE)?;
    let issuer = std::env::var("JOBCAST_JWT_ISSUER").ok().filter(|v| !v.is_empty());
    let audience = std::env::var("JOBCAST_JWT_AUDIENCE").ok().filter(|v| !v.is_empty());
    let claims = DevToken {
        user: &user,
        now: epoch_seconds(),
        ttl_seconds: ttl,
        issuer: issuer.as_deref(),
        audience: audience.as_deref(),
    };
    let token = if rs256 {
        let path = std::env::var("JOBCAST_IDP_KEY").context("JOBCAST_IDP_KEY is not set")?;
        let pem = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
        mint_rs256(&pem, DEV_KID, claims)?
    } else {
        let secret = std::env::var("JOBCAST_JWT_SECRET").context("JOBCAST_JWT_SECRET is not set")?;
        mint_hs256(secret.as_bytes(), &user, claims.now, ttl, claims.issuer, claims.audience)?
    };
    println!("{token}");
    Ok(())
}

fn jwks(args: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut keys = Vec::new();
    for arg in args {
        let (kid, path) = arg.split_once('=').with_context(|| format!("{arg}: expected KID=KEY.pem; {USAGE}"))?;
        keys.push((kid.to_owned(), std::fs::read(path).with_context(|| format!("reading {path}"))?));
    }
    if keys.is_empty() {
        bail!(USAGE);
    }
    let keys: Vec<(&str, &[u8])> = keys.iter().map(|(kid, pem)| (kid.as_str(), pem.as_slice())).collect();
    println!("{}", dev_jwks(&keys)?);
    Ok(())
}

/// Times one fan-out, SDK client built beforehand (as in a warm function).
async fn fanout(file: &str, payload_bytes: usize, concurrency: usize) -> anyhow::Result<()> {
    let targets = std::fs::read_to_string(file)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| ConnectionId::parse(l.trim()).context("a connection id"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let endpoint = std::env::var("JOBCAST_MANAGEMENT_ENDPOINT").context("JOBCAST_MANAGEMENT_ENDPOINT is not set")?;
    let sdk = jobcast_shared::aws::load_sdk_config().await;
    let pusher = ManagementApiPusher::new(&sdk, &endpoint);
    let payload = serde_json::json!({"type": "pong", "pad": "x".repeat(payload_bytes)}).to_string();
    // Warm the connection pool as a warm function's would be; the harness discounts this post.
    if let Some(first) = targets.first() {
        fan_out(&pusher, std::slice::from_ref(first), payload.as_bytes(), 1).await;
    }
    let started = Instant::now();
    let report = fan_out(&pusher, &targets, payload.as_bytes(), concurrency).await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"seconds": seconds, "delivered": report.delivered, "gone": report.gone.len(), "failed": report.failed})
    );
    Ok(())
}
