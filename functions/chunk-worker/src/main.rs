use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use jobcast_shared::config::{BucketConfig, Env, PushConfig};
use jobcast_shared::pdf::PdfLimits;
use jobcast_shared::push::ManagementApiPusher;
use jobcast_shared::s3::S3Store;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

use chunk_worker::handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = Env::from_process();
    let push = PushConfig::from_env(&env)?;
    let bucket = BucketConfig::from_env(&env)?;
    let settings = handler::Settings {
        push_concurrency: push.concurrency,
        limits: PdfLimits::from_env(&env)?,
        max_receive_count: env.parsed_or("MAX_RECEIVE_COUNT", 3)?,
        result_url_ttl: Duration::from_secs(env.parsed_or("RESULT_URL_TTL_SECONDS", 900)?),
        merge_part_bytes: env.parsed_or("MERGE_PART_BYTES", 8 << 20)?.max(jobcast_shared::objects::MIN_PART_BYTES),
    };
    let (sdk, store) = jobcast_shared::aws::dynamo_store_from_env(&env).await?;
    let deps = handler::Deps {
        store,
        objects: S3Store::new(&sdk, bucket.bucket, bucket.force_path_style),
        pusher: ManagementApiPusher::new(&sdk, &push.management_endpoint),
        settings,
    };
    run(service_fn(|event: LambdaEvent<SqsEvent>| handler::handle(&deps, event.payload))).await
}
