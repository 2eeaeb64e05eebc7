use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use jobcast_shared::aws::{load_sdk_config, token_verifier};
use jobcast_shared::config::Env;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

mod config;
mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let metrics = jobcast_shared::telemetry::init(&env, "ws-authorizer")?;
    let config = config::Config::from_env(&env)?;
    let verifier = token_verifier(&load_sdk_config().await, &config.jwt).await?;
    run(service_fn(|event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
        let verifier = &verifier;
        metrics.around(async move { Ok::<_, Error>(handler::handle(verifier, &event.payload).await) })
    }))
    .await
}
