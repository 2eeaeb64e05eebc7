"""Deploy template.yaml to the local stack with the bootstraps cargo just built.

What `sam build` + `sam deploy` do on AWS, done here without Docker or cargo-lambda:
each AWS::Serverless::Function's `Metadata.BuildProperties.Binary` names its binary, which is
zipped as `bootstrap`, uploaded to a local S3 bucket, and put in `CodeUri`. The template is
otherwise deployed as written, with `LocalGatewayUrl` set so its local conditions apply.

Writes the stack outputs as a shell env file for the tests, the token tool and the demo.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shlex
import sys
import time
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config
from cfnlint.decode import decode

REGION = "us-east-1"
BUCKET = "jobcast-local-artifacts"


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 2}),
    )


def bootstrap_zip(binary: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16  # executable, as the provided runtime requires
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, binary.read_bytes())
    return buf.getvalue()


def plain(node):
    """cfn-lint's decoded template uses str/dict subclasses; make it plain JSON data."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def package(template: dict, bin_dir: Path, s3, stack: str) -> None:
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary_name = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if not binary_name:
            sys.exit(f"{name}: Metadata.BuildProperties.Binary is missing")
        binary = bin_dir / binary_name
        if not binary.is_file():
            sys.exit(f"{name}: {binary} was not built")
        body = bootstrap_zip(binary)
        key = f"{stack}/{name}-{hashlib.sha256(body).hexdigest()[:16]}.zip"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        resource["Properties"]["CodeUri"] = {"Bucket": BUCKET, "Key": key}


def wait_for_stack(cfn, stack: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        status = described["StackStatus"]
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
            return described
        if status.endswith("FAILED") or "ROLLBACK" in status:
            events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
            reasons = [
                f"  {e.get('LogicalResourceId')}: {e.get('ResourceStatusReason')}"
                for e in events
                if "FAILED" in e.get("ResourceStatus", "")
            ]
            sys.exit(f"stack {stack} ended {status}:\n" + "\n".join(reasons))
        if time.monotonic() > deadline:
            sys.exit(f"stack {stack} still {status} after {timeout_s}s")
        time.sleep(0.5)


def enable_ttl(template: dict, ddb, outputs: dict) -> None:
    # The local stack ignores TimeToLiveSpecification in CloudFormation; set it directly so
    # expired connection and subscription rows are swept locally as they are on AWS.
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        spec = resource["Properties"].get("TimeToLiveSpecification")
        if not spec or not spec.get("Enabled"):
            continue
        table = outputs.get(f"{name}Name")
        if not table:
            sys.exit(f"{name} has a TTL but no {name}Name output")
        ddb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"AttributeName": spec["AttributeName"], "Enabled": True},
        )


def enable_cors(template: dict, apigw, params: dict, outputs: dict) -> None:
    # The local stack stores CorsConfiguration from CloudFormation but never applies it; set it
    # through the API so preflights from the demo page behave as on AWS.
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::ApiGatewayV2::Api":
            continue
        cors = resource["Properties"].get("CorsConfiguration")
        if not cors:
            continue
        origins = cors["AllowOrigins"]
        if isinstance(origins, dict):  # !Split [',', !Ref Param]
            separator, source = origins["Fn::Split"]
            origins = params[source["Ref"]].split(separator)
        api_id = outputs.get(f"{name}Id")
        if not api_id:
            sys.exit(f"{name} has CORS but no {name}Id output")
        apigw.update_api(
            ApiId=api_id,
            CorsConfiguration={
                "AllowOrigins": origins,
                "AllowMethods": cors.get("AllowMethods", []),
                "AllowHeaders": cors.get("AllowHeaders", []),
                "ExposeHeaders": cors.get("ExposeHeaders", []),
                "MaxAge": int(cors.get("MaxAge", 0)),
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--bin-dir", type=Path, required=True, help="where cargo put the binaries")
    parser.add_argument("--stack", default="jobcast")
    parser.add_argument("--param", action="append", default=[], help="Key=Value")
    parser.add_argument("--env-out", type=Path, required=True)
    args = parser.parse_args()

    template, errors = decode(str(args.template))
    if errors:
        sys.exit("\n".join(str(e) for e in errors))
    template = plain(template)

    s3 = client("s3", args.endpoint)
    cfn = client("cloudformation", args.endpoint)
    ddb = client("dynamodb", args.endpoint)

    started = time.monotonic()
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    package(template, args.bin_dir, s3, args.stack)

    params = {
        name: str(spec["Default"])
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }
    params.update(p.split("=", 1) for p in args.param)
    params["LocalGatewayUrl"] = args.endpoint
    cfn.create_stack(
        StackName=args.stack,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = wait_for_stack(cfn, args.stack)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    enable_ttl(template, ddb, outputs)
    enable_cors(template, client("apigatewayv2", args.endpoint), params, outputs)

    ws_url = outputs["WebSocketUrl"].replace("http://", "ws://", 1)
    env = {
        "JOBCAST_ENDPOINT": args.endpoint,
        "JOBCAST_STACK": args.stack,
        "JOBCAST_HTTP_URL": outputs["HttpApiUrl"],
        "JOBCAST_WS_URL": ws_url,
        "JOBCAST_MANAGEMENT_ENDPOINT": outputs["ManagementEndpoint"],
        "JOBCAST_JOBS_TABLE": outputs["JobsTableName"],
        "JOBCAST_CHUNKS_TABLE": outputs["ChunksTableName"],
        "JOBCAST_CONNECTIONS_TABLE": outputs["ConnectionsTableName"],
        "JOBCAST_SUBSCRIPTIONS_TABLE": outputs["SubscriptionsTableName"],
        "JOBCAST_LIMITS_TABLE": outputs["LimitsTableName"],
        "JOBCAST_CHUNK_QUEUE_URL": outputs["ChunkQueueUrl"],
        "JOBCAST_CHUNK_DLQ_URL": outputs["ChunkDeadLetterQueueUrl"],
        "JOBCAST_UNPROCESSABLE_QUEUE_URL": outputs["UnprocessableQueueUrl"],
        "JOBCAST_BUCKET": outputs["BucketName"],
        "JOBCAST_SWEEPER_FUNCTION": outputs["JobSweeperFunctionName"],
    }
    if "JwtSecretArn" in outputs:
        # The stack generated the HS256 secret; the dev tooling mints tokens with it.
        secret = client("secretsmanager", args.endpoint).get_secret_value(SecretId=outputs["JwtSecretArn"])
        env["JOBCAST_JWT_SECRET_ARN"] = outputs["JwtSecretArn"]
        env["JOBCAST_JWT_SECRET"] = secret["SecretString"]
    # Quoted for the shell that sources the file (a generated secret may hold any punctuation).
    args.env_out.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    print(f"deployed stack {args.stack} in {time.monotonic() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
