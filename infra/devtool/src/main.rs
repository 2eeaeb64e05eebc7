//! `jobcast-dev token --user NAME [--ttl SECONDS]`: prints an HS256 dev token signed with
//! `JOBCAST_JWT_SECRET` (the local stack's secret, from `.local/dev/stack.env`).

use anyhow::{Context as _, bail};
use jobcast_shared::auth::mint_hs256;
use jobcast_shared::clock::epoch_seconds;
use jobcast_shared::ids::UserId;

const USAGE: &str = "usage: jobcast-dev token --user NAME [--ttl SECONDS]";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("token") {
        bail!(USAGE);
    }
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
