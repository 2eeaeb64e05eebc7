"""Peer of ws-authorizer for the cold-start benchmark: the same decision in Python, written the
way a Python Lambda usually is (boto3 imported and a client built at init)."""

import os

import boto3
import jwt

SECRET = os.environ["JWT_SECRET"].encode()
# What a typical Python function pays at init: the SDK import and one client.
SESSION_CLIENT = boto3.client("dynamodb", region_name=os.environ.get("AWS_REGION", "us-east-1"))


def handler(event, _context):
    arn = event.get("methodArn", "*")
    token = (event.get("queryStringParameters") or {}).get("token", "")
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        effect, principal, context = "Allow", claims["sub"], {"userId": claims["sub"]}
    except jwt.PyJWTError:
        effect, principal, context = "Deny", "anonymous", {}
    response = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": arn}],
        },
    }
    if context:
        response["context"] = context
    return response
