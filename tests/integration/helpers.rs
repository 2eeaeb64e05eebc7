//! The test client and the stack handle shared by every module.

use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{SinkExt as _, StreamExt as _};
use jobcast_shared::auth::{DevToken, mint_hs256, mint_rs256};
use jobcast_shared::clock;
use jobcast_shared::config::Tables;
use jobcast_shared::dynamo::DynamoStore;
use jobcast_shared::ids::{ChunkIndex, ConnectionId, JobId, UserId};
use jobcast_shared::job::{Job, Stage};
use jobcast_shared::keys;
use jobcast_shared::pdf::{self, PdfMetadata};
use jobcast_shared::ports::JobWriter as _;
use jobcast_shared::ports::ObjectStore as _;
use jobcast_shared::protocol::ServerMessage;
use jobcast_shared::push::ManagementApiPusher;
use jobcast_shared::queue::ChunkMessage;
use jobcast_shared::result::Manifest;
use jobcast_shared::s3::S3Store;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long to wait for something the stack does asynchronously (a push, an SQS delivery).
pub const PATIENCE: Duration = Duration::from_secs(20);
/// Every message on the shared chunk queue settled: past the worker timeout of the test stack.
const SLOW_DRAIN: Duration = Duration::from_secs(60);

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through infra/test, which deploys the local stack")
    })
}

/// The deployed local stack, from the env file `infra/test` sources.
#[derive(Debug, Clone)]
pub struct Stack {
    pub http_url: String,
    pub ws_url: String,
    pub management_endpoint: String,
    pub tables: Tables,
    pub chunk_queue_url: String,
    pub chunk_dlq_url: String,
    pub unprocessable_url: String,
    pub bucket: String,
    pub sweeper_function: String,
    pub jwt_secret: String,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// What the dev identity provider serves (its `jwks.json`).
    pub idp_dir: std::path::PathBuf,
    pub sdk: aws_config::SdkConfig,
}

impl Stack {
    pub async fn from_env() -> Self {
        // infra/test builds these tests with the workspace's features, so reqwest has the rustls
        // of jobcast-shared's `tokens`, which brings no crypto provider: a client built before
        // the process has one panics. The SDK's own, aws-lc, as the JWKS fetcher installs it.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let sdk = jobcast_shared::aws::load_sdk_config().await;
        Stack {
            http_url: var("JOBCAST_HTTP_URL"),
            ws_url: var("JOBCAST_WS_URL"),
            management_endpoint: var("JOBCAST_MANAGEMENT_ENDPOINT"),
            tables: Tables {
                jobs: var("JOBCAST_JOBS_TABLE"),
                chunks: var("JOBCAST_CHUNKS_TABLE"),
                connections: var("JOBCAST_CONNECTIONS_TABLE"),
                subscriptions: var("JOBCAST_SUBSCRIPTIONS_TABLE"),
                limits: var("JOBCAST_LIMITS_TABLE"),
            },
            chunk_queue_url: var("JOBCAST_CHUNK_QUEUE_URL"),
            chunk_dlq_url: var("JOBCAST_CHUNK_DLQ_URL"),
            unprocessable_url: var("JOBCAST_UNPROCESSABLE_QUEUE_URL"),
            bucket: var("JOBCAST_BUCKET"),
            sweeper_function: var("JOBCAST_SWEEPER_FUNCTION"),
            jwt_secret: var("JOBCAST_JWT_SECRET"),
            jwt_issuer: var("JOBCAST_JWT_ISSUER"),
            jwt_audience: var("JOBCAST_JWT_AUDIENCE"),
            idp_dir: var("JOBCAST_IDP_DIR").into(),
            sdk,
        }
    }

    /// The local stack's gateway (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> String {
        var("AWS_ENDPOINT_URL")
    }

    pub fn ddb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// The DynamoDB adapter the functions use, against the deployed tables.
    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.ddb(), self.tables.clone())
    }

    /// The S3 adapter the functions use, against the deployed bucket.
    pub fn objects(&self) -> S3Store {
        S3Store::new(&self.sdk, &self.bucket, true)
    }

    pub fn pusher(&self) -> ManagementApiPusher {
        ManagementApiPusher::new(&self.sdk, &self.management_endpoint)
    }

    pub fn token(&self, user: &UserId) -> String {
        self.token_for(user, 600)
    }

    /// An HS256 token with the stack's secret, issuer and audience, valid for `ttl_seconds`.
    pub fn token_for(&self, user: &UserId, ttl_seconds: u64) -> String {
        let (issuer, audience) = (Some(self.jwt_issuer.as_str()), Some(self.jwt_audience.as_str()));
        mint_hs256(self.jwt_secret.as_bytes(), user, clock::epoch_seconds(), ttl_seconds, issuer, audience)
            .expect("minting a dev token")
    }

    /// An RS256 token signed by `private_pem` under `kid`, as an identity provider issues them.
    pub fn idp_token(&self, private_pem: &[u8], kid: &str, user: &UserId) -> String {
        let claims = DevToken {
            user,
            now: clock::epoch_seconds(),
            ttl_seconds: 600,
            issuer: Some(&self.jwt_issuer),
            audience: Some(&self.jwt_audience),
        };
        mint_rs256(private_pem, kid, claims).expect("minting an RS256 token")
    }

    pub async fn connect(&self, user: &UserId) -> Client {
        self.connect_with_token(&self.token(user)).await.expect("a valid token connects")
    }

    /// The HTTP status of a refused handshake (401, 403, 429…), or `None` when it connected.
    pub async fn handshake_refusal(&self, token: &str) -> Option<u16> {
        let url = format!("{}?token={token}", self.ws_url);
        match tokio_tungstenite::connect_async(url).await {
            Ok((mut ws, _)) => {
                let _ = ws.close(None).await;
                None
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Some(response.status().as_u16()),
            Err(other) => panic!("the handshake failed without an HTTP answer: {other}"),
        }
    }

    pub async fn connect_with_token(&self, token: &str) -> anyhow::Result<Client> {
        let url = format!("{}?token={token}", self.ws_url);
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Client { ws })
    }

    /// A POST on the HTTP API as `user`, with a JSON body.
    pub fn http_post(&self, path: &str, user: &UserId, body: serde_json::Value) -> reqwest::RequestBuilder {
        reqwest::Client::new().post(format!("{}{path}", self.http_url)).bearer_auth(self.token(user)).json(&body)
    }

    /// A GET on the HTTP API as `user` (no token when `None`).
    pub fn http_get(&self, path: &str, user: Option<&UserId>) -> reqwest::RequestBuilder {
        let request = reqwest::Client::new().get(format!("{}{path}", self.http_url));
        match user {
            Some(user) => request.bearer_auth(self.token(user)),
            None => request,
        }
    }

    /// A processing job with `chunks_total` chunks, owned by `owner`, written through the adapter.
    /// A processing job of `chunks_total` one-page chunks, as the planner leaves it: the job,
    /// its manifest and its chunk PDFs, written through the adapters.
    pub async fn seed_job(&self, owner: &UserId, chunks_total: u32) -> Job {
        let job = self.seed_job_created_at(owner, chunks_total, clock::epoch_millis()).await;
        let objects = self.objects();
        let plan = pdf::plan_chunks(chunks_total, 1);
        for chunk in &plan {
            let index = ChunkIndex::parse(u64::from(chunk.index)).expect("index");
            let bytes = pdf::generate(1, |_| pdf::sample_page_text(chunk.first_page));
            objects.put(&keys::chunk(&job.id, index), bytes, "application/pdf").await.expect("chunk upload");
        }
        let manifest = Manifest { page_count: chunks_total, metadata: PdfMetadata::default(), chunks: plan };
        let manifest = serde_json::to_vec(&manifest).expect("json");
        objects.put(&keys::manifest(&job.id), manifest, "application/json").await.expect("manifest upload");
        job
    }

    /// Only the job row (no chunk objects): what the list and polling tests need.
    pub async fn seed_job_created_at(&self, owner: &UserId, chunks_total: u32, now: i64) -> Job {
        let job = Job {
            id: JobId::generate(),
            owner: owner.clone(),
            stage: Stage::Processing,
            chunks_done: 0,
            chunks_total,
            seq: 1,
            file_name: Some("seeded.pdf".into()),
            error: None,
            created_at: now,
            updated_at: now,
        };
        assert!(self.store().create_job(&job).await.expect("writing a job"), "job id collision");
        job
    }

    pub async fn send_chunks(&self, job: &JobId, indexes: &[u32]) {
        for batch in indexes.chunks(10) {
            let mut request = self.sqs().send_message_batch().queue_url(&self.chunk_queue_url);
            for (i, index) in batch.iter().enumerate() {
                let body = serde_json::to_string(&ChunkMessage {
                    job_id: job.clone(),
                    chunk_index: ChunkIndex::parse(u64::from(*index)).expect("index"),
                    first_page: index + 1,
                })
                .expect("serializes");
                request = request.entries(
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(body)
                        .build()
                        .expect("valid entry"),
                );
            }
            let out = request.send().await.expect("sending chunk messages");
            assert!(out.failed().is_empty(), "SQS refused {:?}", out.failed());
        }
    }

    /// Sends a raw body to the chunk queue, as only a bug or an operator would.
    pub async fn send_raw(&self, body: &str) {
        self.send_body(&self.chunk_queue_url, body).await;
    }

    /// Sends a raw body straight to the chunk DLQ, as SQS does after the last delivery.
    pub async fn send_dead_letter(&self, body: &str) {
        self.send_body(&self.chunk_dlq_url, body).await;
    }

    async fn send_body(&self, queue_url: &str, body: &str) {
        self.sqs().send_message().queue_url(queue_url).message_body(body).send().await.expect("sending a message");
    }

    /// The connection ids of `user`, via the connections table's `byUser` index.
    pub async fn connections_of(&self, user: &UserId) -> Vec<ConnectionId> {
        let out = self
            .ddb()
            .query()
            .table_name(&self.tables.connections)
            .index_name("byUser")
            .key_condition_expression("userId = :u")
            .expression_attribute_values(":u", AttributeValue::S(user.to_string()))
            .send()
            .await
            .expect("querying connections");
        out.items()
            .iter()
            .filter_map(|item| item.get("connectionId")?.as_s().ok())
            .map(|id| ConnectionId::parse(id.as_str()).expect("stored ids are valid"))
            .collect()
    }

    /// Waits until `check` holds, polling; fails with `what` after [`PATIENCE`].
    pub async fn eventually<F, Fut>(&self, what: &str, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.eventually_within(PATIENCE, what, check).await;
    }

    pub async fn eventually_within<F, Fut>(&self, patience: Duration, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + patience;
        while !check().await {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the unprocessable queue (it has no consumer) holds a message whose body
    /// contains `needle`.
    pub async fn await_parked(&self, needle: &str) {
        let sqs = self.sqs();
        self.eventually(&format!("a message with {needle:?} is parked"), || {
            let (sqs, url) = (&sqs, &self.unprocessable_url);
            async move {
                let out = sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .expect("reading the unprocessable queue");
                out.messages().iter().any(|m| m.body().is_some_and(|b| b.contains(needle)))
            }
        })
        .await;
    }

    /// Waits until the chunk queue has nothing visible or in flight.
    pub async fn drain_chunk_queue(&self) {
        let sqs = self.sqs();
        let url = self.chunk_queue_url.clone();
        // Whole-queue: other tests' messages count too, and a worker may hold a slow (hostile)
        // chunk for most of its timeout.
        self.eventually_within(SLOW_DRAIN, "the chunk queue drains", || {
            let sqs = sqs.clone();
            let url = url.clone();
            async move {
                let attrs = sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                    .send()
                    .await
                    .expect("reading queue attributes");
                attrs.attributes().is_some_and(|a| a.values().all(|v| v == "0"))
            }
        })
        .await;
    }
}

/// A unique user per test, so tests never see each other's rows.
pub fn user(prefix: &str) -> UserId {
    UserId::parse(format!("{prefix}-{}", uuid::Uuid::new_v4().simple())).expect("valid user id")
}

/// A connection row as `$connect` writes it, with a token valid until `token_expires_at`.
pub fn connection_row(id: &ConnectionId, user: &UserId, token_expires_at: u64) -> jobcast_shared::ports::Connection {
    jobcast_shared::ports::Connection {
        id: id.clone(),
        user: user.clone(),
        connected_at: clock::epoch_millis(),
        expires_at: clock::expires_in(jobcast_shared::config::CONNECTION_TTL),
        token_expires_at,
    }
}

/// A WebSocket client speaking the jobcast protocol.
#[derive(Debug)]
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn send(&mut self, frame: serde_json::Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("sending a frame");
    }

    pub async fn subscribe(&mut self, job: &JobId) -> ServerMessage {
        self.send(serde_json::json!({"action": "subscribe_job", "jobId": job})).await;
        self.next_message().await.expect("a reply to subscribe_job")
    }

    /// The next server message, or an error after [`PATIENCE`].
    pub async fn next_message(&mut self) -> anyhow::Result<ServerMessage> {
        self.next_message_within(PATIENCE).await
    }

    pub async fn next_message_within(&mut self, limit: Duration) -> anyhow::Result<ServerMessage> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .context("no message in time")?
                .context("socket closed")??;
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(&text).with_context(|| format!("not a server message: {text}"));
                }
                Message::Close(_) => bail!("socket closed by the server"),
                _ => continue,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Kills a function's bootstrap processes for as long as it runs; see [`Stack::keep_killing`].
#[derive(Debug)]
pub struct Killer {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<usize>,
}

impl Killer {
    /// Stops killing; how many processes were killed.
    pub async fn stop(self) -> usize {
        let _ = self.stop.send(true);
        self.task.await.expect("the killer task")
    }
}

impl Stack {
    /// SIGKILLs, every 20 ms until stopped, each bootstrap of this stack whose function name
    /// contains `function`. MiniStack runs each Lambda as a native process with the function's
    /// name and the stack's endpoint in its environment, which is how they are told apart.
    pub fn keep_killing(&self, function: &str) -> Killer {
        let port = format!(":{}", self.endpoint().rsplit(':').next().unwrap_or_default());
        let function = function.to_owned();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut killed = std::collections::HashSet::new();
            while !*stopped.borrow() {
                for pid in bootstraps(&function, &port) {
                    if killed.insert(pid) {
                        let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                    }
                }
                let _ = tokio::time::timeout(Duration::from_millis(20), stopped.changed()).await;
            }
            killed.len()
        });
        Killer { stop, task }
    }
}

/// Live processes whose environment names `function` and the stack's `port`.
fn bootstraps(function: &str, port: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
            let vars: Vec<String> =
                environ.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
            let has = |name: &str, needle: &str| {
                vars.iter().any(|v| v.strip_prefix(name).is_some_and(|value| value.contains(needle)))
            };
            has("AWS_LAMBDA_FUNCTION_NAME=", function) && has("AWS_ENDPOINT_URL=", port)
        })
        .collect()
}
