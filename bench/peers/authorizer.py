"""Peer of ws-authorizer for the cold-start benchmark: the same decision in Python, written the
way a Python Lambda usually is (boto3 imported and a client built at init)."""

import os

import boto3
import jwt

PUBLIC_KEY = os.environ["JWT_PUBLIC_KEY"]
ISSUER, AUDIENCE = os.environ["JWT_ISSUER"], os.environ["JWT_AUDIENCE"]
# What a typical Python function pays at init: the SDK import and one client.
SESSION_CLIENT = boto3.client("dynamodb", region_name=os.environ.get("AWS_REGION", "us-east-1"))


def handler(event, _context):
    arn = event.get("methodArn", "*")
    token = (event.get("queryStringParameters") or {}).get("token", "")
    try:
        claims = jwt.decode(token, PUBLIC_KEY, algorithms=["RS256"], issuer=ISSUER, audience=AUDIENCE,
                            options={"require": ["exp", "sub", "iss", "aud"]})
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
