use jobcast_shared::auth::{JwtSettings, TokenVerifier};
use jobcast_shared::config::Env;
use lambda_http::{Error, Request, run, service_fn, tracing};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let verifier = TokenVerifier::new(&JwtSettings::from_env(&env)?)?;
    let (_, store) = jobcast_shared::aws::dynamo_store_from_env(&env).await?;
    let deps = handler::Deps { store, verifier };
    run(service_fn(|request: Request| {
        handler::handle(&deps, request)
    }))
    .await
}
