//! The HTTP API: job creation, status for polling (while the socket is down, and for finished
//! jobs) and result links. CORS is the gateway's job (`CorsConfiguration` in the template): it
//! answers preflights itself.
//!
//! | module | what lives there |
//! |---|---|
//! | `config` | `Config::from_env`: every variable the function reads, and the defaults |
//! | `handler` | the entry: route, verify the caller, serve; `Deps` and the JSON response shape |
//! | `routing` | the route table: path and method to a route, 404 and 405 |
//! | `error` | `ApiError` and its one mapping to status, code and JSON body |
//! | `routes/` | one module per route: `create`, `list`, `status`, `result` |

use jobcast_shared::aws::{dynamodb, load_sdk_config, token_verifier};
use jobcast_shared::config::Env;
use jobcast_shared::dynamo::DynamoStore;
use jobcast_shared::push::ManagementApiPusher;
use jobcast_shared::s3::S3Store;
use lambda_http::{Error, Request, run, service_fn, tracing};

mod config;
mod error;
mod handler;
mod routes;
mod routing;
#[cfg(test)]
mod test_support;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let metrics = jobcast_shared::telemetry::init(&env, "http-api")?;
    let config = config::Config::from_env(&env)?;
    let sdk = load_sdk_config().await;
    let verifier = token_verifier(&sdk, &config.jwt).await?;
    let deps = handler::Deps {
        store: DynamoStore::new(dynamodb(&sdk), config.tables).with_job_retention(config.settings.job_retention),
        signer: S3Store::new(&sdk, config.bucket.bucket, config.bucket.force_path_style),
        pusher: ManagementApiPusher::new(&sdk, &config.push.management_endpoint),
        verifier,
        settings: config.settings,
    };
    run(service_fn(|request: Request| metrics.around(handler::handle(&deps, request)))).await
}
