//! Developer tool for the local stack.
//!
//! ```text
//! jobcast-dev token --user NAME [--ttl SECONDS]
//!     an HS256 dev token signed with JOBCAST_JWT_SECRET (from .local/<instance>/stack.env)
//! jobcast-dev fanout CONNECTIONS_FILE PAYLOAD_BYTES CONCURRENCY
//!     one update to every connection id in the file through the Management API at
//!     JOBCAST_MANAGEMENT_ENDPOINT, with the functions' own fan-out (benchmark P5); prints JSON
//! ```

use std::time::Instant;

use anyhow::{Context as _, bail};
use jobcast_shared::auth::mint_hs256;
use jobcast_shared::clock::epoch_seconds;
use jobcast_shared::ids::{ConnectionId, UserId};
use jobcast_shared::push::{ManagementApiPusher, fan_out};

const USAGE: &str = "usage: jobcast-dev token --user NAME [--ttl SECONDS] | fanout FILE PAYLOAD_BYTES CONCURRENCY";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("token") => token(args),
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
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value; {USAGE}"))?;
        match flag.as_str() {
            "--user" => user = Some(UserId::parse(value).context("--user")?),
            "--ttl" => ttl = value.parse().context("--ttl must be a number of seconds")?,
            _ => bail!("unknown flag {flag}; {USAGE}"),
        }
    }
    let user = user.context(USAGE)?;
    let secret = std::env::var("JOBCAST_JWT_SECRET").context("JOBCAST_JWT_SECRET is not set")?;
    let token = mint_hs256(secret.as_bytes(), &user, epoch_seconds(), ttl, None, None)?;
    println!("{token}");
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
