"""The sandbox over TLS: a certificate made at start-up, trusted by clients through the environment
(SSL_CERT_FILE for aiohttp, REQUESTS_CA_BUNDLE for requests); untrusted, a certificate error. Also the
done probe the benchmarks' anchor polls."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.sandbox import SandboxServer

EMAIL = "agent@example.com"
TOKEN_AUTH = (f"{EMAIL}/token", "sandbox-token")
TRUST_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

#: A client in a fresh interpreter: aiohttp (default session) and requests (no verify argument) read a
#: job status; each prints "ok" or the type of its error.
CLIENT = """
import asyncio, sys
import aiohttp, requests
url = sys.argv[1]
auth = ("agent@example.com/token", "sandbox-token")

async def with_aiohttp():
    async with aiohttp.ClientSession() as session:
        async with session.get(url, auth=aiohttp.BasicAuth(*auth)) as response:
            return (await response.json())["job_status"]["status"]

for name, read in (("aiohttp", lambda: asyncio.run(with_aiohttp())), ("requests", lambda: requests.get(
        url, auth=auth, timeout=10).json()["job_status"]["status"])):
    try:
        print(name, "ok", read())
    except Exception as error:
        cause = error
        while cause.__cause__ is not None or cause.__context__ is not None:
            cause = cause.__cause__ or cause.__context__
        print(name, "error", type(error).__name__, type(cause).__name__, str(error)[:300])
"""


@pytest.fixture(scope="module")
def tls_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(tls=True) as sandbox:
        yield sandbox


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any CA bundle setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in TRUST_VARIABLES}
    env.update(extra)
    return env


def run_client(url: str, env: dict[str, str]) -> dict[str, list[str]]:
    output = subprocess.run(
        [sys.executable, "-c", CLIENT, url], env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return {line.split()[0]: line.split()[1:] for line in output.splitlines() if line.strip()}


def status_url(sandbox: SandboxServer, duration: float = 0.0) -> str:
    job_id = sandbox.state.zendesk.create_job(duration=duration)
    return f"{sandbox.url}/api/v2/job_statuses/{job_id}.json"


def test_tls_server_has_an_https_url_and_a_ca_file(tls_sandbox: SandboxServer) -> None:
    assert tls_sandbox.url.startswith("https://127.0.0.1:")
    assert tls_sandbox.ca_file is not None and tls_sandbox.ca_file.read_text().startswith("-----BEGIN CERT")
    assert oct(tls_sandbox.ca_file.with_name("server.key").stat().st_mode & 0o777) == "0o600"


def test_clients_trust_it_through_the_environment(tls_sandbox: SandboxServer) -> None:
    ca = str(tls_sandbox.ca_file)
    answers = run_client(status_url(tls_sandbox), clean_env(SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca))
    assert answers == {"aiohttp": ["ok", "completed"], "requests": ["ok", "completed"]}


def test_untrusted_clients_fail_with_a_certificate_error(tls_sandbox: SandboxServer) -> None:
    answers = run_client(status_url(tls_sandbox), clean_env())
    assert answers["aiohttp"][:3] == ["error", "ClientConnectorCertificateError", "SSLCertVerificationError"]
    assert answers["requests"][:3] == ["error", "SSLError", "SSLCertVerificationError"]
    assert all("CERTIFICATE_VERIFY_FAILED" in " ".join(answer) for answer in answers.values())


def test_the_certificate_passes_strict_x509_checks(tls_sandbox: SandboxServer) -> None:
    context = ssl.create_default_context(cafile=str(tls_sandbox.ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # the default from Python 3.13
    for host in ("127.0.0.1", "localhost"):
        url = status_url(tls_sandbox).replace("127.0.0.1", host)
        response = requests.get(url, auth=TOKEN_AUTH, timeout=10, verify=str(tls_sandbox.ca_file))
        assert response.json()["job_status"]["status"] == "completed"
    raw = socket.create_connection(("127.0.0.1", tls_sandbox.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        assert sock.version() in ("TLSv1.2", "TLSv1.3")


def test_our_hook_reads_over_tls(tls_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = {"conn_type": "jobstatus_zendesk", "host": tls_sandbox.url, "login": EMAIL}
    monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_TLS", json.dumps({**connection, "password": "sandbox-token"}))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sandbox.ca_file))
    job_id = tls_sandbox.state.zendesk.create_job(total=3, duration=0)
    assert ZendeskJobHook("zendesk_tls").get_job(job_id).state.value == "succeeded"


def test_stop_removes_the_certificate_files() -> None:
    sandbox = SandboxServer(tls=True).start()
    assert sandbox.ca_file is not None
    folder = sandbox.ca_file.parent
    sandbox.stop()
    assert sandbox.ca_file is None and not folder.exists()


def test_python_dash_m_tls_prints_the_ca_to_trust() -> None:
    command = [sys.executable, "-m", "airflow_jobstatus.sandbox", "--port", "0", "--tls"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[1]
        lines = [process.stdout.readline() for _ in range(4)]
        assert url.startswith("https://127.0.0.1:") and lines[-1].startswith("tls: trust ")
        ca_file = Path(lines[-1].split()[2])
        health = requests.get(f"{url}/_sandbox/health", timeout=10, verify=str(ca_file))
        assert health.json() == {"ok": True}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    assert not ca_file.exists()


# ----- the done probe (the anchor of the benchmarks) -----
def test_done_probe_answers_404_while_running_then_200(tls_sandbox: SandboxServer) -> None:
    tls_sandbox.reset()
    zendesk = tls_sandbox.state.zendesk
    running, done = zendesk.create_job(duration=600), zendesk.create_job(duration=0)
    verify = str(tls_sandbox.ca_file)

    def probe(job_id: str, auth: tuple[str, str] | None = TOKEN_AUTH) -> requests.Response:
        url = f"{tls_sandbox.url}/_sandbox/zendesk/jobs/{job_id}/done"
        return requests.get(url, auth=auth, timeout=10, verify=verify)

    assert probe(running).status_code == 404 and probe(running).json()["error"] == "NotDone"
    assert probe(done).status_code == 200 and probe(done).json()["job_status"]["status"] == "completed"
    assert probe("nope").status_code == 404
    assert probe(done, auth=None).status_code == 401
    logged = [(r.path.rsplit("/", 2)[-2], r.status) for r in tls_sandbox.state.requests]
    assert logged == [(running, 404), (running, 404), (done, 200), (done, 200), ("nope", 404), (done, 401)]
