"""Exposure (issue 7): the app listens on 127.0.0.1 unless told otherwise; the README says how
to expose it safely; uploads are capped by the server.

The live test starts ``streamlit run streamlit_app.py`` exactly as the README does (no address
flag) and reads the kernel's table of listening sockets: the port must be bound to 127.0.0.1
only, never to 0.0.0.0 or ::.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from glaucoma_core.paths import PROJECT_ROOT

CONFIG = PROJECT_ROOT / ".streamlit" / "config.toml"
README = PROJECT_ROOT / "README.md"


def test_config_binds_to_loopback_and_caps_uploads():
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        pytest.skip("tomllib needs Python 3.11")
    config = tomllib.loads(CONFIG.read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert 1 <= config["server"]["maxUploadSize"] <= 50  # MB; the Classify page states it too
    assert config["browser"]["gatherUsageStats"] is False  # offline: no telemetry


def test_readme_says_how_to_expose_it_safely():
    text = README.read_text()
    assert "## Exposing the app safely" in text
    section = text.split("## Exposing the app safely", 1)[1].split("\n## ", 1)[0]
    for needed in ("127.0.0.1", "ssh -L", "reverse proxy", "authentication", "TLS", "GLAUCOMA_DATA_ROOT"):
        assert needed in section, needed


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets in LISTEN state on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) != port or fields[3] != "0A":  # 0A = LISTEN
                continue
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
            else:
                raw = b"".join(bytes.fromhex(address[i:i + 8])[::-1] for i in range(0, 32, 8))
                found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc/net/tcp")
def test_server_started_as_in_the_readme_listens_on_loopback_only(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GLAUCOMA_HOME": str(tmp_path / "home")}
    log = open(tmp_path / "streamlit.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)],
                              cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 90
        while not _listening_addresses(port):
            assert server.poll() is None, (tmp_path / "streamlit.log").read_text()[-3000:]
            assert time.time() < deadline, "streamlit did not start listening within 90 s"
            time.sleep(0.5)
        time.sleep(1.0)  # give a second (IPv6) listener time to appear, if one were coming
        assert _listening_addresses(port) == {"127.0.0.1"}
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        log.close()
