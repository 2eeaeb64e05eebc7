# Shared by infra/up, infra/down, infra/token, infra/test and infra/prod-check. Source it; don't run it.
# Everything it installs goes to the git-ignored .local/ folder, pinned.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

MINISTACK_VERSION=1.5.33
SAM_TRANSLATOR_VERSION=1.115.0
CFN_LINT_VERSION=1.58.0
BOTO3_VERSION=1.43.106
SCHEMATHESIS_VERSION=4.32.5
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
# The production build (infra/prod-check): SAM CLI, and cargo-lambda with the zig it links with.
SAM_CLI_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.1

log() { printf '\033[1m[jobcast]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ensure_venv NAME PACKAGE... : a venv under .local/NAME with exactly these pins, reused
# while the pins are unchanged.
ensure_venv() {
  local dir="$LOCAL/$1"; shift
  local stamp
  stamp="$dir/.pins-$(printf '%s\n' "$@" | sha1sum | cut -c1-12)"
  [ -f "$stamp" ] && return 0
  log "installing $* into .local/$(basename "$dir")"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  touch "$stamp"
}

ensure_tools() {
  command -v python3 >/dev/null || die "python3 is required"
  command -v cargo >/dev/null || die "cargo is required"
  mkdir -p "$LOCAL"
  # MiniStack needs the SAM translator in its own venv for the Serverless transform.
  ensure_venv ministack "ministack==$MINISTACK_VERSION" "aws-sam-translator==$SAM_TRANSLATOR_VERSION" \
    "boto3==$BOTO3_VERSION"
  ensure_venv tools "cfn-lint==$CFN_LINT_VERSION" "boto3==$BOTO3_VERSION"
  ensure_venv apitest "schemathesis==$SCHEMATHESIS_VERSION" \
    "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION"
}

# kill_tree PID : stops a process and everything it started. The parent first, so it starts
# nothing more; its children as they were listed before.
kill_tree() {
  local children child
  children="$(pgrep -P "$1" 2>/dev/null || true)"
  kill -TERM "$1" 2>/dev/null || true
  for child in $children; do kill_tree "$child"; done
}

# wait_for PID LOG WHAT : waits for a background job; if it failed, shows the end of its log
# and stops.
wait_for() {
  wait "$1" && return 0
  tail -n 30 "$2" >&2
  die "$3 failed; its output is in ${2#"$ROOT/"}"
}

function_packages() {
  local dir
  for dir in "$ROOT"/functions/*/; do basename "$dir"; done
}

# Every x86_64 build and test names the whole workspace with all its features. Cargo resolves
# features per command, and a dependency resolved with other features is compiled again: with
# `-p jobcast-tests` alone serde lost its `rc` feature, and the integration tests rebuilt the
# AWS SDK and everything else above serde in debug. The features add code a binary links only
# if it calls it (the `test-util` fakes, `dev`), with one catch: `tokens` gives reqwest a rustls
# without a crypto provider, so whatever builds a reqwest client installs one first.
WORKSPACE=(--workspace --all-features)

# Local bootstraps are x86_64 debug builds with the workspace's feature set (the test-util
# fakes are compiled in, unused: each main.rs wires the AWS adapters), so they share every
# compiled dependency with `cargo test`. The same command builds jobcast-dev and jobcast-bench.
build_bootstraps() {
  log "building bootstraps: $(function_packages | tr '\n' ' ')and the dev and bench tools"
  cargo build --quiet "${WORKSPACE[@]}" --bins
}

# instance_dir NAME : where an instance (dev, test) keeps its pid, logs and env file.
instance_dir() { printf '%s/%s' "$LOCAL" "$1"; }

stop_instance() {
  local dir pid
  dir="$(instance_dir "$1")"
  stop_idp "$1"
  [ -f "$dir/ministack.pid" ] || return 0
  pid="$(cat "$dir/ministack.pid")"
  # A stale pid file may name an unrelated process by now: only ever stop a MiniStack.
  if kill -0 "$pid" 2>/dev/null && grep -qa ministack "/proc/$pid/cmdline" 2>/dev/null; then
    # MiniStack runs in its own session; its Lambda workers go with the process group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$dir/ministack.pid"
}

# start_instance NAME PORT : a fresh MiniStack on 127.0.0.1:PORT (state is in memory).
start_instance() {
  local name="$1" port="$2" dir
  dir="$(instance_dir "$name")"
  stop_instance "$name"
  mkdir -p "$dir"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use; pick another (JOBCAST_PORT for infra/up, JOBCAST_TEST_PORT and JOBCAST_TEST_ISOLATED_PORT for infra/test, JOBCAST_BENCH_PORT for bench/run, JOBCAST_PROD_PORT for infra/prod-check)"
  fi
  log "starting MiniStack $MINISTACK_VERSION on 127.0.0.1:$port"
  # Lambdas inherit this environment: AWS_ENDPOINT_URL points their SDK clients at the stack.
  env AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    BIND_HOST=127.0.0.1 GATEWAY_PORT="$port" LOG_LEVEL="${JOBCAST_MINISTACK_LOG_LEVEL:-INFO}" \
    setsid "$LOCAL/ministack/bin/ministack" >"$dir/ministack.log" 2>&1 < /dev/null &
  echo $! >"$dir/ministack.pid"
  local i
  for i in $(seq 1 150); do
    curl -sf "http://127.0.0.1:$port/_ministack/ready" >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$dir/ministack.pid")" 2>/dev/null || { tail -20 "$dir/ministack.log" >&2; die "MiniStack exited"; }
    sleep 0.2
  done
  die "MiniStack did not become ready; see $dir/ministack.log"
}

# The dev identity provider of an instance listens on its MiniStack port plus this.
IDP_PORT_OFFSET=100

stop_idp() {
  local pid_file pid
  pid_file="$(instance_dir "$1")/idp.pid"
  [ -f "$pid_file" ] || return 0
  pid="$(cat "$pid_file")"
  if kill -0 "$pid" 2>/dev/null && grep -qa http.server "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

# start_idp NAME PORT : a dev identity provider for the instance: an RSA key (kept outside what
# is served), its JWKS and an OpenID discovery document, served on 127.0.0.1:PORT. The stack
# finds the keys through discovery, as it would at Cognito or Auth0; jobcast-dev mints RS256
# tokens with the key, and a test rotates it by rewriting the served JWKS.
# The dev identity provider's key comes from openssl (Debian's, installed when missing, as
# infra/web does for chromium).
ensure_openssl() {
  command -v openssl >/dev/null && return 0
  command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] ||
    die "the dev identity provider needs openssl (apt-get install openssl)"
  log "installing Debian's openssl"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
}

start_idp() {
  local name="$1" port="$2" dir
  dir="$(instance_dir "$name")"
  ensure_openssl
  stop_idp "$name"
  rm -rf "$dir/idp" "$dir/idp-keys"
  mkdir -p "$dir/idp/.well-known" "$dir/idp-keys"
  chmod 700 "$dir/idp-keys"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/idp-keys/dev-1.pem" 2>/dev/null
  "$CARGO_TARGET_DIR/debug/jobcast-dev" jwks "dev-1=$dir/idp-keys/dev-1.pem" >"$dir/idp/jwks.json"
  printf '{"issuer": "http://127.0.0.1:%s", "jwks_uri": "http://127.0.0.1:%s/jwks.json"}\n' "$port" "$port" \
    >"$dir/idp/.well-known/openid-configuration"
  python3 -m http.server --bind 127.0.0.1 --directory "$dir/idp" "$port" >"$dir/idp.log" 2>&1 < /dev/null &
  echo $! >"$dir/idp.pid"
  local i
  for i in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$port/jwks.json" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "the dev identity provider did not start; see $dir/idp.log"
}

# deploy_instance NAME PORT [Key=Value...] : deploy template.yaml against the instance, with its
# dev identity provider (and the stack's own generated HS256 secret) as token issuers.
deploy_instance() {
  local name="$1" port="$2" dir param idp_port issuer
  shift 2
  dir="$(instance_dir "$name")"
  idp_port=$((port + IDP_PORT_OFFSET))
  issuer="http://127.0.0.1:$idp_port"
  start_idp "$name" "$idp_port"
  local params=(--param "JwtIssuer=$issuer" --param JwtAudience=jobcast-local --param JwtDiscovery=true)
  for param in "$@"; do params+=(--param "$param"); done
  "$LOCAL/tools/bin/python" "$ROOT/infra/deploy_local.py" \
    --endpoint "http://127.0.0.1:$port" \
    --template "$ROOT/template.yaml" \
    --bin-dir "$CARGO_TARGET_DIR/debug" \
    --stack jobcast \
    "${params[@]}" \
    --env-out "$dir/stack.env"
  {
    echo "export JOBCAST_JWT_ISSUER='$issuer'"
    echo "export JOBCAST_JWT_AUDIENCE='jobcast-local'"
    echo "export JOBCAST_IDP_DIR='$dir/idp'"
    echo "export JOBCAST_IDP_KEY='$dir/idp-keys/dev-1.pem'"
    echo "export AWS_ENDPOINT_URL='http://127.0.0.1:$port'"
    echo "export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1"
    echo "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"
  } >>"$dir/stack.env"
  chmod 600 "$dir/stack.env"
}

# mint_token NAME USER [TTL] [--rs256] : a dev token for the instance (HS256 with its secret, or
# RS256 from its dev identity provider).
mint_token() {
  local dir
  dir="$(instance_dir "$1")"
  [ -f "$dir/stack.env" ] || die "no local stack; run infra/up first"
  (
    # shellcheck disable=SC1091
    . "$dir/stack.env"
    "$CARGO_TARGET_DIR/debug/jobcast-dev" token --user "$2" --ttl "${3:-3600}" ${4:+"$4"}
  )
}
