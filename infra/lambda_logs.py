"""Print every Lambda log of the local stack (CloudWatch Logs), oldest first, for debugging."""

import argparse

import boto3

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--endpoint", required=True)
args = parser.parse_args()
logs = boto3.client(
    "logs", endpoint_url=args.endpoint, region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test",
)
for group in logs.describe_log_groups()["logGroups"]:
    name = group["logGroupName"]
    print(f"===== {name}")
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=name):
        for event in page["events"]:
            print(event["message"].rstrip())
