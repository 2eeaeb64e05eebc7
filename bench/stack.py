"""The benchmarks that need a running local stack: P4 push latency, P5 fan-out, P8 peak memory.

P4: a user uploads a 120-page PDF (60 chunks at the stack's 2 pages per chunk, so nearly every
chunk moves the bar by a whole percent and is pushed); a WebSocket client subscribed to the job
timestamps every `job_update` on receipt. Latency = receipt − the update's `updatedAt`, which
the worker sets in the same DynamoDB transaction that commits the chunk. The push path alone
(Management API POST → receipt, no worker) is measured on the same socket with boto3, so the
difference is the worker's own share (read after commit, push claim, subscriber query).

P8: MiniStack runs each function's `bootstrap` natively, as a child process it keeps warm
between invocations (a pool per function, grown under concurrency). Per input, the functions get
fresh environments (a configuration update, as on AWS), every bootstrap's peak is reset
(`clear_refs`), one job runs end to end, and each process's `VmHWM` is read.
"""

from __future__ import annotations

import datetime
import json
import os
import queue
import re
import statistics
import threading
import time
import urllib.request
from pathlib import Path

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


def dev_token(env: dict, user: str, ttl: int = 3600) -> str:
    """An HS256 token signed with the stack's generated secret, carrying the stack's iss and aud."""
    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + ttl}
    if env.get("JOBCAST_JWT_ISSUER"):
        claims["iss"] = env["JOBCAST_JWT_ISSUER"]
    if env.get("JOBCAST_JWT_AUDIENCE"):
        claims["aud"] = env["JOBCAST_JWT_AUDIENCE"]
    return pyjwt.encode(claims, env["JOBCAST_JWT_SECRET"], "HS256")


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
    token = dev_token(env, user)
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
    """WebSocket clients (one per URL) on one asyncio loop, counting what they receive."""

    def __init__(self, urls: list[str]):
        count = len(urls)
        import asyncio

        from websockets.asyncio.client import connect as aconnect

        self.received = 0
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()

        async def client(url):
            async with aconnect(url, open_timeout=300, max_size=2**20) as ws:
                async for _ in ws:
                    with self.lock:
                        self.received += 1

        async def main():
            self.tasks = []
            # Connect in waves, within the local stack's pace: each connect is an authorizer run
            # and a ws-connect run (two writes, with the connection allowance), and past ~20 a
            # second the debug bootstraps time out faster than MiniStack spawns them.
            for start in range(0, count, 10):
                batch = [asyncio.create_task(client(urls[i])) for i in range(start, min(count, start + 10))]
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

    # A user may hold only a few connections (MaxConnectionsPerUser), so the crowd is many
    # users with a few each; the Management API posts are the same either way.
    per_user = 2  # within the test stack's MaxConnectionsPerUser=3
    stamp = int(time.time())
    users = [f"bench-fan-{stamp}-{i}" for i in range((max(sizes) + per_user - 1) // per_user)]
    urls = [f"{env['JOBCAST_WS_URL']}?token={dev_token(env, users[i // per_user])}" for i in range(max(sizes))]
    crowd = Crowd(urls)
    session = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    ddb = boto3.client("dynamodb", endpoint_url=env["JOBCAST_ENDPOINT"], **session)

    def connection_ids() -> list[str]:
        # One scan of this run's users, not a query per user: the local stack serves requests
        # one at a time, and hundreds of queries per poll would starve the connects themselves.
        return [item["connectionId"]["S"]
                for page in ddb.get_paginator("scan").paginate(
                    TableName=env["JOBCAST_CONNECTIONS_TABLE"], FilterExpression="begins_with(userId, :p)",
                    ExpressionAttributeValues={":p": {"S": f"bench-fan-{stamp}-"}})
                for item in page["Items"]]

    ids = []
    # Each connect runs the authorizer and ws-connect on the local stack: allow a few minutes.
    deadline = time.monotonic() + 300
    while len(ids) < max(sizes) and time.monotonic() < deadline:
        ids = connection_ids()
        time.sleep(1.0)
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


# ---------------------------------------------------------------- P8 peak memory

def template_functions(template: Path) -> dict[str, dict]:
    """Each function's logical id → its binary and MemorySize (Globals default, or its own).

    A line reader for template.yaml's layout, not a YAML parser: the template's `!Ref`/`!Sub`
    tags need CloudFormation's loader, which the bench venv does not carry. It fails loudly
    rather than guess when the layout moves.
    """
    default, functions, section, resource = None, {}, None, None
    for line in template.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if indent == 0:
            section = key
        elif section == "Globals" and key == "MemorySize":
            default = int(value)
        elif section == "Resources" and indent == 2:
            resource = key
        elif section == "Resources" and indent == 4 and key == "Type" and value == "AWS::Serverless::Function":
            functions[resource] = {}
        elif resource in functions:
            if binary := re.search(r"\bBinary:\s*([\w-]+)", line):
                functions[resource]["binary"] = binary.group(1)
            elif indent == 6 and key == "MemorySize":  # under Properties
                functions[resource]["memory_mb"] = int(value)
    if default is None or not functions or any("binary" not in f for f in functions.values()):
        raise SystemExit(f"{template}: could not read Globals.Function.MemorySize and each function's Binary")
    for f in functions.values():
        f.setdefault("memory_mb", default)
    return functions


class Bootstraps:
    """The bootstrap processes under one MiniStack, by function, and their peak RSS per window.

    Warm processes keep their `VmHWM` across invocations, so each window starts by resetting it
    (writing 5 to `clear_refs` sets it to the current RSS: what the process still holds counts,
    as it would on a warm Lambda). Processes spawned during a window count from their exec.
    Sampling every 20 ms, rather than reading once at the end, keeps the peak of a process that
    dies inside the window (a timeout or a crash); one that lives under ~200 ms between two
    scans could still be missed.
    """

    def __init__(self, root: int, functions: dict[str, str]):
        self.root = root
        self.functions = functions  # AWS_LAMBDA_FUNCTION_NAME → label
        self.known: dict[int, dict] = {}
        self.peaks: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _children(self, pid: int) -> list[int]:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return []
        found = []
        for tid in tasks:  # each thread's forks are listed under that thread
            try:
                found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except OSError:
                pass
        return found

    def _identify(self, pid: int) -> dict | None:
        try:
            exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
            if os.path.basename(exe) != "bootstrap":
                return None  # not a bootstrap, or forked and not yet exec'd: look again next scan
            environ = dict(v.split(b"=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                           if b"=" in v)
        except OSError:
            return None
        name = environ.get(b"AWS_LAMBDA_FUNCTION_NAME", b"").decode()
        memory = environ.get(b"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", b"").decode()
        return {"function": self.functions.get(name, name), "memory_env": int(memory) if memory.isdigit() else None}

    def scan(self) -> None:
        pending = [self.root]
        while pending:
            for child in self._children(pending.pop()):
                pending.append(child)
                if child not in self.known and (found := self._identify(child)):
                    self.known[child] = found

    @staticmethod
    def _status_kib(pid: int, field: str) -> int | None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1])
        except OSError:
            pass
        return None

    def _sample(self) -> None:
        for pid in list(self.known):
            if (hwm := self._status_kib(pid, "VmHWM:")) is not None:
                self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)

    def _loop(self) -> None:
        tick = 0
        while not self.stop.wait(0.02):
            tick += 1
            if tick % 10 == 0:
                self.scan()
            self._sample()

    def begin(self) -> None:
        self.scan()
        self.peaks = {}
        for pid in list(self.known):
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                del self.known[pid]  # gone since the scan
        self.stop.clear()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def end(self) -> dict[str, dict]:
        """Per function: peak MiB over its processes, how many ran, and the most RSS one of
        them still held once the job was over (what a warm environment carries into the next)."""
        self.stop.set()
        self.thread.join()
        self.scan()
        self._sample()
        out: dict[str, dict] = {}
        for pid, peak in self.peaks.items():
            info = self.known[pid]
            row = out.setdefault(info["function"], {"peak_mib": 0.0, "processes": 0, "resident_mib": 0.0,
                                                     "memory_env": info["memory_env"]})
            row["peak_mib"] = max(row["peak_mib"], peak / 1024)
            row["processes"] += 1
            row["resident_mib"] = max(row["resident_mib"], (self._status_kib(pid, "VmRSS:") or 0) / 1024)
        for pid in [p for p in self.known if not Path(f"/proc/{p}").exists()]:
            del self.known[pid]
        return out


def run_job(env: dict, token: str, pdf: bytes, timeout: float) -> dict:
    """One job end to end as a user runs it: socket and subscription, POST /jobs, the upload,
    `job_completed`, then the status and result reads. Returns its outcome and duration."""
    started = time.monotonic()
    base = env["JOBCAST_HTTP_URL"]
    socket = Socket(f"{env['JOBCAST_WS_URL']}?token={token}")
    try:
        created = http("POST", f"{base}/jobs", token,
                       json.dumps({"fileName": "bench.pdf", "sizeBytes": len(pdf)}).encode(),
                       {"Content-Type": "application/json"})
        job = created["jobId"]
        socket.send({"action": "subscribe_job", "jobId": job})
        # Upload only once subscribed: a job the planner rejects at once (cold environments make
        # the subscribe slower than that) would otherwise end before anyone listens.
        while True:
            message = socket.next(timeout=30)[1]
            if message.get("type") == "error":
                raise SystemExit(f"subscribe_job {job} refused: {message}")
            if message.get("type") == "subscribed" and message.get("jobId") == job:
                break
        http("PUT", created["uploadUrl"], "", pdf, {"Content-Type": "application/pdf"})
        ended = None
        while ended is None and time.monotonic() - started < timeout:
            try:
                _, message = socket.next(timeout=5)
                if message.get("type") == "job_completed" and message.get("jobId") == job:
                    ended = message
            except queue.Empty:  # a push may be lost; the job's own status is the backstop
                status = http("GET", f"{base}/jobs/{job}", token)
                if status.get("status") in ("completed", "failed"):
                    ended = status
        status = http("GET", f"{base}/jobs/{job}", token)
        if status.get("status") == "completed":
            http("GET", f"{base}/jobs/{job}/result", token)
    finally:
        socket.close()
    seconds = time.monotonic() - started
    if ended is None:
        return {"status": f"not ended within {timeout:.0f} s", "error": None, "seconds": seconds}
    return {"status": ended["status"], "error": ended.get("error"), "seconds": seconds}


def client(service: str, env: dict):
    return boto3.client(service, endpoint_url=env["JOBCAST_ENDPOINT"], region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def settle(env: dict, timeout: float = 60) -> None:
    """Waits until no chunk message is queued or in flight, i.e. no worker is mid-invocation
    (one message per invocation), so a job's trailing work lands in its own window."""
    sqs = client("sqs", env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = [sqs.get_queue_attributes(QueueUrl=env[q], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            for q in ("JOBCAST_CHUNK_QUEUE_URL", "JOBCAST_CHUNK_DLQ_URL") if q in env]
        if all(int(v) == 0 for c in counts for v in c.values()):
            return
        time.sleep(0.2)


def recycle(env: dict, names: list[str]) -> None:
    """Fresh execution environments for every function: a configuration update retires the warm
    ones, on AWS and in MiniStack (it stops their bootstraps; the next invoke spawns anew). The
    same Timeout is written back, so nothing about the function changes."""
    lam = client("lambda", env)
    for name in names:
        lam.update_function_configuration(FunctionName=name,
                                          Timeout=lam.get_function_configuration(FunctionName=name)["Timeout"])
    for name in names:
        while lam.get_function_configuration(FunctionName=name).get("LastUpdateStatus") == "InProgress":
            time.sleep(0.1)


def function_names(env: dict, stack_name: str = "jobcast") -> dict[str, str]:
    """Deployed function name → its logical id, from the stack's resources."""
    cfn = client("cloudformation", env)
    return {r["PhysicalResourceId"]: r["LogicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
            if r["ResourceType"] == "AWS::Lambda::Function"}


def stack_limits(env: dict, function: str) -> dict:
    """The upload limits the stack was deployed with, as a function sees them."""
    variables = client("lambda", env).get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    return {"max_pages": int(variables["MAX_PAGES"]), "max_upload_bytes": int(variables["MAX_UPLOAD_BYTES"])}


def peak_memory(env: dict, ministack_pid: int, template: Path, make_inputs, timeout: float, fresh: bool) -> dict:
    """P8: per input, each function's peak RSS over one job. `make_inputs(limits)` returns
    (label, pdf path) pairs sized from the stack's limits. With `fresh`, every input starts on
    new environments, so a figure is that input's own and not what an earlier one left behind."""
    functions = template_functions(template)
    deployed = function_names(env)
    labels = {name: functions[logical]["binary"] for name, logical in deployed.items() if logical in functions}
    planner = next(name for name, label in labels.items() if label == "job-planner")
    limits = stack_limits(env, planner)
    bootstraps = Bootstraps(ministack_pid, labels)
    stamp = int(time.time())
    rows = []
    for i, (label, pdf) in enumerate(make_inputs(limits)):
        # A user per input: the inputs come faster than one user's jobs-per-minute allowance.
        token = dev_token(env, f"bench-mem-{stamp}-{i}")
        data = pdf.read_bytes()
        if fresh:
            recycle(env, list(labels))
        bootstraps.begin()
        try:
            outcome = run_job(env, token, data, timeout)
            settle(env)
            time.sleep(1.0)  # $disconnect runs after the socket closes: let it land in this window
        finally:
            peaks = bootstraps.end()
        rows.append({"input": label, "bytes": len(data), **outcome, "peaks": peaks})
    memory = {f["binary"]: f["memory_mb"] for f in functions.values()}
    for row in rows:  # the template is read by hand: check it against what MiniStack deployed
        for function, peak in row["peaks"].items():
            if peak["memory_env"] not in (None, memory.get(function)):
                raise SystemExit(f"{function}: template.yaml says {memory.get(function)} MB, "
                                 f"the running function {peak['memory_env']} MB")
    return {"limits": limits, "memory_mb": memory, "rows": rows, "fresh": fresh}
