"""The local stack's metrics, as an operator would see them in CloudWatch: every EMF document
the functions wrote to their logs, summed per metric and dimensions.

    infra/metrics [--instance dev|test] [--json]

Counters are summed; distributions (milliseconds, fan-out sizes) show count, p50, p95 and max.
"""

import argparse
import collections
import json
import math
import os
import shlex
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent


def stack_env(instance: str) -> dict:
    path = ROOT / ".local" / instance / "stack.env"
    if not path.exists():
        sys.exit(f"no local stack '{instance}' (start one with infra/up)")
    env = {}
    for line in path.read_text().splitlines():
        for assignment in shlex.split(line.removeprefix("export ")):
            key, _, value = assignment.partition("=")
            env[key] = value
    return env


def emf_documents(endpoint: str):
    """Every EMF document in every Lambda log group of the stack, oldest first."""
    logs = boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")
    for group in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/aws/lambda/"):
        for g in group["logGroups"]:
            for page in logs.get_paginator("filter_log_events").paginate(logGroupName=g["logGroupName"]):
                for event in page["events"]:
                    line = event["message"].strip()
                    if not line.startswith("{") or '"_aws"' not in line:
                        continue
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue


def aggregate(documents) -> dict:
    """(metric, dimensions) -> {"unit", "values"}: a counter's values are its per-invocation
    deltas, a distribution's the samples."""
    series = collections.defaultdict(lambda: {"unit": None, "values": []})
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            dims = tuple((name, str(doc.get(name, ""))) for name in directive["Dimensions"][0])
            for metric in directive["Metrics"]:
                value = doc.get(metric["Name"])
                entry = series[(metric["Name"], dims)]
                entry["unit"] = metric.get("Unit")
                entry["values"].extend(value if isinstance(value, list) else [value])
    return series


def percentile(values: list, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def rows(series: dict) -> list:
    out = []
    for (name, dims), entry in sorted(series.items()):
        values = entry["values"]
        row = {"metric": name, "dimensions": dict(dims), "unit": entry["unit"]}
        if entry["unit"] == "Milliseconds" or name == "FanOutSize":
            row.update(count=len(values), p50=percentile(values, 50), p95=percentile(values, 95), max=max(values))
        else:
            row.update(sum=sum(values))
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instance", default=os.environ.get("JOBCAST_INSTANCE", "dev"))
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args()
    table = rows(aggregate(emf_documents(stack_env(args.instance)["JOBCAST_ENDPOINT"])))
    if args.json:
        for row in table:
            print(json.dumps(row))
        return
    if not table:
        print("no metrics yet: run a job (infra/up serves the demo)")
        return
    print(f"{'metric':<20} {'dimensions':<44} {'value'}")
    for row in table:
        dims = ", ".join(f"{k}={v}" for k, v in row["dimensions"].items())
        if "sum" in row:
            value = f"{row['sum']:g}"
        else:
            unit = " ms" if row["unit"] == "Milliseconds" else ""
            value = f"n={row['count']}  p50={row['p50']:.0f}{unit}  p95={row['p95']:.0f}{unit}  max={row['max']:.0f}{unit}"
        print(f"{row['metric']:<20} {dims:<44} {value}")


if __name__ == "__main__":
    main()
