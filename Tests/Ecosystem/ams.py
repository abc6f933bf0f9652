"""The real service for an ecosystem test: its own database and Redis database, free ports, the
settings the test gives, and plain HTTP helpers to drive it."""

import json
import os
import random
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Optional

BIN = os.environ["AMS_BIN"]
LOCAL = os.environ["AMS_LOCAL"]
ADMIN_URL = os.environ["AMS_TEST_ADMIN_URL"]
REDIS_URL = os.environ["AMS_TEST_REDIS_URL"]
SECRET = "ecosystem-test-secret-0123456789abcdefghijklmn"


def free_port() -> int:
    """A free port below the kernel's ephemeral range, as scripts/lib.sh picks one: a port from that
    range can be taken by an outgoing connection before the service binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = max(int(f.read().split()[0]), 21000)
    except (OSError, ValueError):
        low = 32768
    for _ in range(200):
        port = random.randrange(20000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port found")


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


class Service:
    """`with Service("name", {"AMS_X": "1"}) as ams:` serves the binary until the block ends.
    `name` picks the database (ams_eco_<name>, made anew) and the log (.local/ecosystem-<name>.log)."""

    def __init__(self, name: str, env: Optional[dict] = None, redis_db: int = 15):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        database = f"ams_eco_{name}"
        subprocess.run(
            ["psql", ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qtA",
             "-c", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)",
             "-c", f"CREATE DATABASE {database} OWNER ams"],
            check=True, stdout=subprocess.DEVNULL)
        owner_url = ADMIN_URL.replace("postgres://postgres@", "postgres://ams:ams@").rsplit("/", 1)[0]
        self.env = dict(os.environ)
        self.env.update({
            "AMS_DATABASE_URL": f"{owner_url}/{database}",
            "AMS_REDIS_URL": f"{REDIS_URL}/{redis_db}",
            "AMS_JWT_SECRET": SECRET,
            "AMS_HTTP_PORT": str(self.port),
            "AMS_DEFAULT_TIER": "enterprise",
        })
        self.env.update(env or {})
        self.log_path = os.path.join(LOCAL, f"ecosystem-{name}.log")
        self.process = None

    def __enter__(self):
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([BIN, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited; see {self.log_path}")
            try:
                if self.request("GET", "/health").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the service did not answer; see {self.log_path}")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        if exc[0] is not None:
            with open(self.log_path, "rb") as log:
                print(log.read()[-4000:].decode(errors="replace"))

    def token(self, tenant: Optional[str] = None, roles=("admin",), ttl: str = "10m") -> str:
        args = [BIN, "token", "--ttl", ttl] + (["--tenant", tenant] if tenant else [])
        for role in roles:
            args += ["--role", role]
        return subprocess.run(args, env=self.env, check=True, capture_output=True, text=True).stdout.strip()

    def request(self, method: str, path: str, body=None, token: Optional[str] = None,
                headers: Optional[dict] = None) -> Response:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())


def eventually(check, timeout: float = 15.0, interval: float = 0.1):
    """Polls `check` until it returns something truthy; fails with its last answer."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s: last answer {last!r}")
