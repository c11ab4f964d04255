#!/usr/bin/env python3
"""Runs the README's journeys as a newcomer pastes them (issue 14, "The first run").

Takes every ```sh block of "Your first exchange", "Paying at the till", "Gift vouchers",
"Sending to a friend", "Coins at market price", "An escrowed trade", "Paying an online shop",
"Promotions" and "Tipping a creator",
starts the server and the partner simulator they expect (on free loopback ports, put in
place of the README's 8080 and 9090, with a fresh data directory), and runs the blocks in
one bash, stopping at the first failing command. Checks that the journey ended where the
README says: an exchange completed, payments approved, a settlement made, a transfer held
for a phone and claimed when it joined, a money request paid, MVP converted into TTC and BTC,
a trade completed in escrow, a shop paid through checkout and its webhooks received once each,
a promotion's cashback granted and taken back on a refund, a trading reward on a conversion,
a creator's reward pool paid out and a tip split 30:70.

Usage: scripts/readme_journeys.py [path to the mileverse binary]
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

README = os.path.join(os.path.dirname(__file__), "..", "README.md")
FIRST_SECTION = "## Your first exchange"
AFTER_LAST_SECTION = "## On chain"
BOOTSTRAP_TOKEN = "dev-only-bootstrap-token-change-me-0123456789"
PARTNER_SECRET = "partner-secret-0123456789"
READY_TIMEOUT_S = 60
JOURNEY_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(url, process):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError as error:
            # A 404 or 401 answers: the process listens.
            if getattr(error, "code", None):
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in time")


def journey_script(binary, server_port, partner_port) -> str:
    text = open(README).read()
    start, end = text.index(FIRST_SECTION), text.index(AFTER_LAST_SECTION)
    blocks = re.findall(r"```sh\n(.*?)```", text[start:end], re.S)
    # The blocks that start servers (the partner simulator) are this script's to run.
    journey = [block for block in blocks if "partner-sim --listen" not in block]
    script = "set -euo pipefail\n" + "\n".join(journey)
    script = script.replace('MV="cargo run -q --release --"', f"MV={binary}")
    script = script.replace("127.0.0.1:8080", f"127.0.0.1:{server_port}")
    return script.replace("127.0.0.1:9090", f"127.0.0.1:{partner_port}")


def main() -> int:
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/mileverse")
    work = tempfile.mkdtemp(prefix="mileverse-readme-")
    server_port, partner_port = free_port(), free_port()
    env = dict(os.environ, MILEVERSE_BOOTSTRAP_ADMIN_TOKEN=BOOTSTRAP_TOKEN)
    logs = open(os.path.join(work, "processes.log"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{server_port}", "--data", os.path.join(work, "data")],
        env=env, stdout=logs, stderr=subprocess.STDOUT,
    )
    partner = subprocess.Popen(
        [binary, "partner-sim", "--listen", f"127.0.0.1:{partner_port}", "--secret", PARTNER_SECRET],
        stdout=logs, stderr=subprocess.STDOUT,
    )
    try:
        wait_until(f"http://127.0.0.1:{server_port}/healthz", server)
        wait_until(f"http://127.0.0.1:{partner_port}/", partner)
        script = journey_script(binary, server_port, partner_port)
        open(os.path.join(work, "journey.sh"), "w").write(script)
        run = subprocess.run(
            ["bash", os.path.join(work, "journey.sh")],
            cwd=work, capture_output=True, text=True, timeout=JOURNEY_TIMEOUT_S,
        )
    finally:
        for process in (server, partner):
            process.terminate()
            process.wait(timeout=30)
        logs.close()
    out = run.stdout
    expected = [
        '"status":"completed","mvp":7000', '"result": "approved"', '"settlement_id"',
        '"status":"held"', '"available":1000', '"counterparty_name_masked":"L*****n"',
        '"status":"completed","transfer_ids"', '"asset":"BTC","decimals":8,"available":1382',
        '"status":"succeeded"', '"type":"payment_intent.refunded"', '"refused":0',
        '"status":"completed","kind":"asset"', '"reason":"cashback_clawback"', '"clawback_mvp":100',
        '"status":"distributed","funded_mvp":10000,"remaining_mvp":0', '"platform_share":300,"creator_share":700',
        '"kind": "tip"',
        '"reason":"trading_reward","asset":"MVP","amount":5,',
    ]
    missing = [text for text in expected if text not in out]
    if run.returncode != 0 or missing or "Traceback" in run.stderr:
        print(out[-4000:])
        print(run.stderr[-4000:])
        print(f"the README's journeys failed (exit {run.returncode}, missing {missing}); see {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("the README's journeys run as written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
