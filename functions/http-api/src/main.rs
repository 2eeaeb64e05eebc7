use std::time::Duration;

use jobcast_shared::auth::{JwtSettings, TokenVerifier};
use jobcast_shared::config::{BucketConfig, Env, PushConfig};
use jobcast_shared::pdf::PdfLimits;
use jobcast_shared::push::ManagementApiPusher;
use jobcast_shared::s3::S3Store;
use lambda_http::{Error, Request, run, service_fn, tracing};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let verifier = TokenVerifier::new(&JwtSettings::from_env(&env)?)?;
    let push = PushConfig::from_env(&env)?;
    let bucket = BucketConfig::from_env(&env)?;
    let settings = handler::Settings {
        max_upload_bytes: PdfLimits::from_env(&env)?.max_bytes as u64,
        upload_url_ttl: Duration::from_secs(env.parsed_or("UPLOAD_URL_TTL_SECONDS", 900)?),
        result_url_ttl: Duration::from_secs(env.parsed_or("RESULT_URL_TTL_SECONDS", 900)?),
        push_concurrency: push.concurrency,
    };
    let (sdk, store) = jobcast_shared::aws::dynamo_store_from_env(&env).await?;
    let deps = handler::Deps {
        store,
        signer: S3Store::new(&sdk, bucket.bucket, bucket.force_path_style),
        pusher: ManagementApiPusher::new(&sdk, &push.management_endpoint),
        verifier,
        settings,
    };
    run(service_fn(|request: Request| handler::handle(&deps, request))).await
}
