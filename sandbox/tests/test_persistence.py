"""State dir: a restart keeps keys, secrets and token chains; --print-env."""

from __future__ import annotations

import json
import socket

from sandbox.__main__ import main
from sandbox.testing import running_sandbox
from sandbox.tests.helpers import api, login, refresh, register_partner


def test_restart_keeps_tokens_the_portal_holds(tmp_path, key_server):
    with running_sandbox(tmp_path) as first:
        port = int(first.url.rsplit(":", 1)[1])
        secret = first.demo_clients["global"]["client_secret"]
        assert register_partner(first, key_server.domain, "na").status_code == 200
        tokens = login(first)
    state = (tmp_path / "state.json").read_text()
    assert tokens["refresh_token"] not in state
    assert tokens["access_token"] not in state
    assert oct((tmp_path / "state.json").stat().st_mode & 0o777) == "0o600"

    with running_sandbox(tmp_path, port=port) as second:
        assert second.demo_clients["global"]["client_secret"] == secret
        resp = api(second, "na", "GET", "/api/1/users/me", tokens["access_token"])
        assert resp.status_code == 200, resp.text
        assert refresh(second, tokens["refresh_token"]).status_code == 200


def test_print_env_writes_demo_client_lines(tmp_path, capsys):
    assert main(["--print-env", "--state-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [line.split("=", 1)[0] for line in lines]
    assert keys == [
        "TESLA_CLIENT_ID",
        "TESLA_CLIENT_SECRET",
        "TESLA_CN_CLIENT_ID",
        "TESLA_CN_CLIENT_SECRET",
    ]
    values = dict(line.split("=", 1) for line in lines)
    assert not values["TESLA_CLIENT_SECRET"].startswith("ta-secret.")
    # Same state dir, same answer: the secrets persisted.
    assert main(["--print-env", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    saved = json.loads((tmp_path / "state.json").read_text())
    assert values["TESLA_CN_CLIENT_ID"] in saved["clients"]


def test_running_sandbox_releases_its_port(tmp_path):
    with running_sandbox() as sb:
        port = int(sb.url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # would raise if the server still held it
