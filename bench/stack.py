"""P4: push latency on the local stack, measured through the real pipeline.

A user uploads a 120-page PDF (60 chunks at the stack's 2 pages per chunk, so nearly every
chunk moves the bar by a whole percent and is pushed); a WebSocket client subscribed to the job
timestamps every `job_update` on receipt. Latency = receipt − the update's `updatedAt`, which
the worker sets in the same DynamoDB transaction that commits the chunk. The push path alone
(Management API POST → receipt, no worker) is measured on the same socket with boto3, so the
difference is the worker's own share (read after commit, push claim, subscriber query).
"""

from __future__ import annotations

import datetime
import json
import queue
import statistics
import threading
import time
import urllib.request

import boto3
import jwt as pyjwt
from websockets.sync.client import connect


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summarize(values: list[float]) -> dict:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "min": min(values), "max": max(values)}


class Socket:
    def __init__(self, url: str):
        self.ws = connect(url, open_timeout=20, max_size=2**20)
        self.inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for frame in self.ws:
                self.inbox.put((time.time() * 1000, json.loads(frame)))
        except Exception:
            pass

    def send(self, message: dict):
        self.ws.send(json.dumps(message))

    def next(self, timeout: float = 60) -> tuple[float, dict]:
        return self.inbox.get(timeout=timeout)

    def close(self):
        self.ws.close()


def millis(rfc3339: str) -> float:
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000


def http(method: str, url: str, token: str, body: bytes | None = None, headers: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=body, method=method, headers={
        **({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
        return json.loads(data) if data else {}


def push_latency(env: dict, pdf: bytes, jobs: int, pushes: int) -> dict:
    user = f"bench-{int(time.time())}"
    now = int(time.time())
    token = pyjwt.encode({"sub": user, "iat": now, "exp": now + 3600}, env["JOBCAST_JWT_SECRET"], "HS256")
    socket = Socket(f"{env['JOBCAST_WS_URL']}?token={token}")
    end_to_end = []
    try:
        for _ in range(jobs):
            created = http("POST", f"{env['JOBCAST_HTTP_URL']}/jobs", token,
                           json.dumps({"fileName": "bench.pdf", "sizeBytes": len(pdf)}).encode(),
                           {"Content-Type": "application/json"})
            job = created["jobId"]
            socket.send({"action": "subscribe_job", "jobId": job})
            http("PUT", created["uploadUrl"], "", pdf, {"Content-Type": "application/pdf"})
            while True:
                received, message = socket.next()
                if message.get("jobId") != job:
                    continue
                if message["type"] == "job_update" and message["stage"] == "processing" and message["chunksDone"]:
                    end_to_end.append(received - millis(message["updatedAt"]))
                if message["type"] == "job_completed":
                    break

        # The push path alone: a Management API POST from boto3 to the same socket.
        ddb = boto3.client("dynamodb", endpoint_url=env["JOBCAST_ENDPOINT"], region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        rows = ddb.query(TableName=env["JOBCAST_CONNECTIONS_TABLE"], IndexName="byUser",
                         KeyConditionExpression="userId = :u", ExpressionAttributeValues={":u": {"S": user}})
        connection = rows["Items"][0]["connectionId"]["S"]
        api = boto3.client("apigatewaymanagementapi", endpoint_url=env["JOBCAST_MANAGEMENT_ENDPOINT"],
                           region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        push_path = []
        for i in range(pushes):
            started = time.time() * 1000
            api.post_to_connection(ConnectionId=connection, Data=json.dumps({"type": "pong", "n": i}).encode())
            while True:
                received, message = socket.next()
                if message.get("n") == i:
                    push_path.append(received - started)
                    break
    finally:
        socket.close()
    e2e, path = summarize(end_to_end), summarize(push_path)
    return {"end_to_end": e2e, "push_path": path, "worker_share_p50": e2e["p50"] - path["p50"]}


class Crowd:
    """N WebSocket clients of one user on one asyncio loop, counting what they receive."""

    def __init__(self, url: str, count: int):
        import asyncio

        from websockets.asyncio.client import connect as aconnect

        self.received = 0
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()

        async def client():
            async with aconnect(url, open_timeout=300, max_size=2**20) as ws:
                async for _ in ws:
                    with self.lock:
                        self.received += 1

        async def main():
            self.tasks = []
            for start in range(0, count, 25):  # connect in waves, within the stack's pace
                batch = [asyncio.create_task(client()) for _ in range(start, min(count, start + 25))]
                self.tasks += batch
                await asyncio.sleep(0.5)
            self.ready.set()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True).start()
        self.ready.wait(600)

    def total(self) -> int:
        with self.lock:
            return self.received

    def await_total(self, target: int, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.total() >= target:
                return True
            time.sleep(0.01)
        return False

    def close(self):
        for task in self.tasks:
            self.loop.call_soon_threadsafe(task.cancel)


def fan_out(env: dict, rust_fanout: list[str], sizes: list[int], rounds: int, workdir) -> list[dict]:
    from concurrent.futures import ThreadPoolExecutor

    user = f"bench-fan-{int(time.time())}"
    now = int(time.time())
    token = pyjwt.encode({"sub": user, "iat": now, "exp": now + 3600}, env["JOBCAST_JWT_SECRET"], "HS256")
    crowd = Crowd(f"{env['JOBCAST_WS_URL']}?token={token}", max(sizes))
    session = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    ddb = boto3.client("dynamodb", endpoint_url=env["JOBCAST_ENDPOINT"], **session)
    ids = []
    # Each connect runs the authorizer and ws-connect on the local stack: allow a few minutes.
    deadline = time.monotonic() + 300
    while len(ids) < max(sizes) and time.monotonic() < deadline:
        ids = [item["connectionId"]["S"]
               for page in ddb.get_paginator("query").paginate(
                   TableName=env["JOBCAST_CONNECTIONS_TABLE"], IndexName="byUser",
                   KeyConditionExpression="userId = :u", ExpressionAttributeValues={":u": {"S": user}})
               for item in page["Items"]]
        time.sleep(0.2)
    if len(ids) < max(sizes):
        raise SystemExit(f"only {len(ids)} of {max(sizes)} connections came up")
    api = boto3.client("apigatewaymanagementapi", endpoint_url=env["JOBCAST_MANAGEMENT_ENDPOINT"], **session)
    payload = json.dumps({"type": "pong", "pad": "x" * 200}).encode()
    api.post_to_connection(ConnectionId=ids[0], Data=payload)  # warm the pool, as the Rust side does

    def boto3_fan_out(targets: list[str]) -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:  # the same 16 in flight as jobcast
            list(pool.map(lambda c: api.post_to_connection(ConnectionId=c, Data=payload), targets))
        return time.perf_counter() - started

    rows = []
    try:
        for n in sizes:
            targets = ids[:n]
            listing = workdir / f"connections-{n}.txt"
            listing.write_text("\n".join(targets))
            results = {"jobcast (Rust, fan_out, 16 in flight)": [], "boto3 (16 threads)": []}
            for _ in range(rounds):
                before = crowd.total()
                out = subprocess_json(rust_fanout + [str(listing), "200", "16"], env)
                assert crowd.await_total(before + n + 1), "a Rust push did not arrive"
                results["jobcast (Rust, fan_out, 16 in flight)"].append(out["seconds"] * 1000)
                before = crowd.total()
                ms = boto3_fan_out(targets) * 1000
                assert crowd.await_total(before + n), "a boto3 push did not arrive"
                results["boto3 (16 threads)"].append(ms)
            rows.append({"connections": n, **{k: summary_ms(v) for k, v in results.items()}})
    finally:
        crowd.close()
    return rows


def summary_ms(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def subprocess_json(command: list[str], env: dict) -> dict:
    import os
    import subprocess

    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
