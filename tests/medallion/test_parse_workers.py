"""Silver's forked parse workers die with their parent, even when it is killed with SIGKILL."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# Parses 120,000 payloads over two forked workers, again and again, until killed.
PARSING_FOR_EVER = textwrap.dedent(
    """
    from streamflow.core import ContractConfig
    from streamflow.medallion.silver import parse_payloads
    payload = b'{"schema_version": 1, "transaction_id": "T", "customer_id": "C", "card_id": "K", ' \\
              b'"store_id": "S", "product_id": "P", "amount": 1.5, "currency": "EUR", ' \\
              b'"timestamp": "2026-01-01T00:00:00+00:00", "latitude": 1.0, "longitude": 2.0, "channel": "pos"}'
    print("parsing", flush=True)
    while True:
        parse_payloads([payload] * 120_000, ContractConfig(), workers=2)
    """
)


def _children(pid: int) -> set[int]:
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.add(int(entry.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_workers_die_when_their_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARSING_FOR_EVER], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    workers: set[int] = set()
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "parsing"
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = {pid for pid in _children(parent.pid) if _alive(pid)}
            time.sleep(0.05)
        assert len(workers) >= 2, "the workers never started"
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "orphaned workers outlived their parent"
    finally:
        for pid in workers:  # leave nothing behind, whatever happened: by the PIDs seen, never by name
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()
