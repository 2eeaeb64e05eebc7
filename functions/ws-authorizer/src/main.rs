use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use jobcast_shared::auth::{JwtSettings, TokenVerifier};
use jobcast_shared::config::Env;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let verifier = TokenVerifier::new(&JwtSettings::from_env(&Env::from_process())?)?;
    run(service_fn(|event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
        let verifier = &verifier;
        async move { Ok::<_, Error>(handler::handle(verifier, &event.payload)) }
    }))
    .await
}
