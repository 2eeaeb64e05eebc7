"""Peer of `jobcast-bench jwt`: verify one token N times with PyJWT, key loaded once,
validating the same claims (signature, exp, nbf, iss, aud; exp and sub required)."""

import json
import pathlib
import sys
import time

import jwt


def main() -> None:
    alg, iterations, key_dir = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
    if alg == "HS256":
        key = (key_dir / "hs256.secret").read_text().strip().encode()
    else:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        key = load_pem_public_key((key_dir / "rsa-public.pem").read_bytes())
    token = (key_dir / f"{alg.lower()}.jwt").read_text().strip()
    options = {"require": ["exp", "sub", "iss", "aud"], "verify_nbf": True}

    def verify() -> dict:
        return jwt.decode(
            token, key, algorithms=[alg], audience="jobcast", issuer="https://idp.bench", options=options, leeway=0
        )

    verify()
    started = time.perf_counter()
    for _ in range(iterations):
        verify()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "iterations": iterations, "ops_per_second": iterations / seconds}))


if __name__ == "__main__":
    main()
