#!/usr/bin/env python3
"""Schemathesis against /openapi.json on a running server (issue 13, item 8).

Starts `mileverse serve --demo` on a free loopback port with a fresh data directory, signs a
member up through the real flow (verification code from the dev SMS outbox), then runs
Schemathesis twice: the operator routes with the bootstrap token, every other route with
the member's session. The run fails on any 5xx answer and on any answer whose status,
content type, headers or body break the document.

Usage: scripts/schemathesis.py [path to the mileverse binary] (default target/debug/mileverse);
SCHEMATHESIS (the `st` command) and SCHEMATHESIS_MAX_EXAMPLES may be set.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# What must hold of every answer: no 5xx, and status, media type, headers and body as
# documented. (Schemathesis' other checks judge API design choices, e.g. that a request
# without credentials is refused with 401 rather than a 404 that hides a record.)
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
# Operations that would end the run's own credentials (logging out, withdrawing the
# member, disabling operators or keys) are left out; their tests are in crates/*/tests.
MEMBER_EXCLUDED = ["/v1/sessions/current", "/v1/me"]
READY_TIMEOUT_S = 120
REQUEST_TIMEOUT_S = 10
PHONE = "010-5555-0101"
PIN = "482916"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {path}: {error.code} {error.read()[:500]!r}")


def wait_ready(base, server):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise SystemExit("the server was not ready in time")


def member_session(base, admin_token) -> str:
    """Signs a member up and logs in, as the app does."""
    verification = call(base, "POST", "/v1/verifications", {"phone": PHONE})
    outbox = call(base, "GET", "/admin/v1/sms-outbox?phone=" + PHONE, token=admin_token)
    code = re.search(r"\b(\d{6})\b", outbox["messages"][-1]["text"]).group(1)
    grant = call(
        base,
        "POST",
        "/v1/members",
        {
            "verification_id": verification["verification_id"],
            "code": code,
            "name": "Schema Thesis",
            "pin": PIN,
        },
    )
    session = call(
        base,
        "POST",
        "/v1/sessions",
        {"phone": PHONE, "pin": PIN, "device_token": grant["device_token"]},
    )
    return session["token"]


def schemathesis(base, token, filters, report, work_dir):
    st = os.environ.get("SCHEMATHESIS", "st")
    if os.sep in st:
        st = os.path.abspath(st)  # the run's working directory is its own (below)
    command = [
        st,
        "run",
        base + "/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"),
        "--request-timeout",
        str(REQUEST_TIMEOUT_S),
        "--header",
        "Authorization: Bearer " + token,
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", "13"),
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        report,
        *filters,
    ]
    print("+", " ".join(c if "Bearer" not in c else "Authorization: Bearer ***" for c in command))
    # In the run's own directory: Schemathesis keeps a cache where it runs.
    return subprocess.run(command, cwd=work_dir).returncode


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/mileverse"
    data_dir = tempfile.mkdtemp(prefix="mileverse-schemathesis-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin_token = secrets.token_hex(32)
    env = dict(os.environ, MILEVERSE_BOOTSTRAP_ADMIN_TOKEN=admin_token)
    log = open(os.path.join(data_dir, "server.log"), "w")
    server = subprocess.Popen(
        [
            binary,
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--data",
            os.path.join(data_dir, "data"),
            "--demo",
            "--rate-limits",
            "off",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(base, server)
        member_token = member_session(base, admin_token)
        reports = os.path.join(data_dir, "reports")
        os.makedirs(reports)
        failures = schemathesis(
            base,
            admin_token,
            ["--include-path-regex", "^/admin/"],
            os.path.join(reports, "operator.xml"),
            data_dir,
        )
        excluded = []
        for path in MEMBER_EXCLUDED:
            excluded += ["--exclude-path", path]
        failures += schemathesis(
            base,
            member_token,
            ["--exclude-path-regex", "^/admin/", *excluded],
            os.path.join(reports, "member.xml"),
            data_dir,
        )
        if server.poll() is not None:
            print(f"the server died during the run ({server.returncode})")
            failures += 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    if failures:
        print(f"schemathesis found problems; the server's log: {data_dir}/server.log")
        return 1
    shutil.rmtree(data_dir, ignore_errors=True)
    print("schemathesis: no 5xx and no answer outside the document")
    return 0


if __name__ == "__main__":
    sys.exit(main())
