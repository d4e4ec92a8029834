"""Result downloads against a hostile vendor, over real HTTP against the sandbox: links to internal
addresses (directly or through a redirect), decompression bombs, oversized and dripped results, bad
settings; plus the address classifier on its own."""

from __future__ import annotations

import gzip
import ipaddress
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3.util.connection
from conftest import tradedesk_connection
from hypothesis import given
from hypothesis import strategies as st

from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.core.results import ResultNotText
from airflow_jobstatus.errors import (
    ConfigurationError,
    PermanentVendorError,
    ResultLimitExceeded,
    TransientVendorError,
    UnsafeResultHost,
)
from airflow_jobstatus.hooks.tradedesk import TradeDeskHook
from airflow_jobstatus.http import result_hosts
from airflow_jobstatus.http.downloads import (
    AddressKind,
    DownloadLimits,
    HostPolicy,
    check_result_url,
    classify_address,
    open_download,
)
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sandbox.tradedesk_jobs import RESULTS_PATH, result_sha256, result_size

SANDBOX_HOSTS = HostPolicy(loopback_api=True)


def link_job(sandbox: SandboxServer, conn_id: str, size: int = 3_000_000) -> tuple[TradeDeskHook, Job]:
    """A finished job whose result comes only as a link on the sandbox's result host."""
    sandbox.state.tradedesk.config.raw_result_limit = 1000
    hook = TradeDeskHook(conn_id)
    job = hook.get_job(sandbox.state.tradedesk.create_job(duration=0, result_bytes=size))
    assert job.raw_result is None and job.result_url
    return hook, job


def result_requests(sandbox: SandboxServer) -> int:
    return sandbox.state.count(path_prefix=RESULTS_PATH)


def drain(url: str, hosts: HostPolicy, limits: DownloadLimits | None = None) -> int:
    """Download ``url`` to nowhere; the number of bytes of the document."""
    with open_download("Vendor", url, allow_hosts=hosts, limits=limits or DownloadLimits()) as download:
        return sum(len(chunk) for chunk in download.chunks)


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every outgoing connection urllib3 would open is recorded and refused."""
    attempts: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(address)
        raise OSError("connections are not allowed in this test")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    return attempts


# --- the address classifier -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", AddressKind.METADATA),
        ("fd00:ec2::254", AddressKind.METADATA),
        ("::ffff:169.254.169.254", AddressKind.METADATA),
        ("64:ff9b::a9fe:a9fe", AddressKind.METADATA),  # NAT64 form
        ("2002:a9fe:a9fe::1", AddressKind.METADATA),  # 6to4 form
        ("100.100.100.200", AddressKind.METADATA),
        ("0.0.0.0", AddressKind.UNSPECIFIED),
        ("::", AddressKind.UNSPECIFIED),
        ("127.0.0.1", AddressKind.LOOPBACK),
        ("127.8.9.10", AddressKind.LOOPBACK),
        ("::1", AddressKind.LOOPBACK),
        ("::ffff:127.0.0.1", AddressKind.LOOPBACK),
        ("10.1.2.3", AddressKind.PRIVATE),
        ("172.31.255.1", AddressKind.PRIVATE),
        ("192.168.0.10", AddressKind.PRIVATE),
        ("100.64.0.1", AddressKind.PRIVATE),
        ("fd12:3456::1", AddressKind.PRIVATE),
        ("::ffff:10.0.0.1", AddressKind.PRIVATE),
        ("169.254.10.20", AddressKind.LINK_LOCAL),
        ("fe80::1%eth0", AddressKind.LINK_LOCAL),
        ("224.0.0.1", AddressKind.MULTICAST),
        ("ff02::1", AddressKind.MULTICAST),
        ("240.0.0.1", AddressKind.RESERVED),
        ("255.255.255.255", AddressKind.RESERVED),
        ("192.0.2.7", AddressKind.RESERVED),
        ("2001:db8::1", AddressKind.RESERVED),
        ("not an address", AddressKind.RESERVED),
        ("8.8.8.8", AddressKind.PUBLIC),
        ("::ffff:8.8.8.8", AddressKind.PUBLIC),
        ("2606:4700:4700::1111", AddressKind.PUBLIC),
    ],
)
def test_addresses_are_classified(address: str, kind: AddressKind) -> None:
    assert classify_address(address) is kind


@given(st.ip_addresses())
def test_any_address_is_allowed_or_refused_never_an_error(address: Any) -> None:
    kind = classify_address(address)
    assert isinstance(kind, AddressKind)
    assert classify_address(str(address)) is kind
    assert (HostPolicy().refusal(kind) is None) is (kind is AddressKind.PUBLIC)


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_mapped_into_ipv6_is_what_it_hides(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert classify_address(mapped) is classify_address(address)


def test_the_exceptions_of_each_policy() -> None:
    never = (AddressKind.METADATA, AddressKind.LINK_LOCAL, AddressKind.UNSPECIFIED, AddressKind.MULTICAST)
    sandbox, mirror = HostPolicy(loopback_api=True), HostPolicy(allow_private=True)
    assert sandbox.refusal(AddressKind.LOOPBACK) is None
    assert sandbox.refusal(AddressKind.PRIVATE) is not None
    assert mirror.refusal(AddressKind.PRIVATE) is None and mirror.refusal(AddressKind.LOOPBACK) is None
    assert "allow_private_result_hosts" in (HostPolicy().refusal(AddressKind.PRIVATE) or "")
    for kind in never:
        assert sandbox.refusal(kind) and mirror.refusal(kind)
    assert HostPolicy.for_connection("http://127.0.0.1:8900/x", {}, "c").loopback_api
    remote = HostPolicy.for_connection(
        "https://api.thetradedesk.com/workflows",
        {"allow_private_result_hosts": "true", "allow_insecure_http": False},
        "c",
    )
    assert remote == HostPolicy(loopback_api=False, allow_private=True, allow_insecure_http=False)
    with pytest.raises(ConfigurationError, match="connection 'c': extra allow_private_result_hosts must be"):
        HostPolicy.for_connection("https://api.example.com", {"allow_private_result_hosts": "maybe"}, "c")


def test_a_host_is_refused_if_any_of_its_addresses_is() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(UnsafeResultHost, match=r"results\.example\.com resolves to 10\.0\.0\.7"):
        check_result_url("https://results.example.com/r.json", HostPolicy(), resolver=resolver)
    check_result_url(
        "https://results.example.com/r.json", HostPolicy(), resolver=lambda h, p: ["93.184.216.34"]
    )


def test_schemes_and_plain_http() -> None:
    public = ["93.184.216.34"]
    for url in ("ftp://results.example.com/r", "file:///etc/passwd", "https:///nohost"):
        with pytest.raises(UnsafeResultHost, match="not an http"):
            check_result_url(url, HostPolicy(), resolver=lambda h, p: public)
    with pytest.raises(UnsafeResultHost, match="plain http"):
        check_result_url("http://results.example.com/r", HostPolicy(), resolver=lambda h, p: public)
    check_result_url(
        "http://results.example.com/r", HostPolicy(allow_insecure_http=True), resolver=lambda h, p: public
    )
    # loopback API: loopback result hosts over http, but not a public one over http
    check_result_url("http://localhost:8900/r", SANDBOX_HOSTS, resolver=lambda h, p: ["127.0.0.1", "::1"])
    with pytest.raises(UnsafeResultHost, match="plain http"):
        check_result_url("http://results.example.com/r", SANDBOX_HOSTS, resolver=lambda h, p: public)
    with pytest.raises(UnsafeResultHost, match="plain http"):  # private allowed, http still not
        check_result_url("http://10.0.0.8/r", HostPolicy(allow_private=True))
    with pytest.raises(UnsafeResultHost, match=r"localhost resolves to 127\.0\.0\.1 and it is a loopback"):
        check_result_url("https://localhost/r", HostPolicy(), resolver=lambda h, p: ["127.0.0.1"])


# --- SSRF over the hook -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://169.254.169.254/latest/meta-data",
        "https://[::ffff:169.254.169.254]/x",
        "https://[::ffff:a9fe:a9fe]/x",
        "https://[fd00:ec2::254]/latest/meta-data",
        "https://10.0.0.5/x",
        "https://192.168.1.1/x",
        "https://0.0.0.0/x",
        "https://[::]/x",
        "https://169.254.170.2/v2/credentials",
    ],
)
def test_internal_result_links_are_refused_before_connecting(
    sandbox: SandboxServer, tradedesk_conn: str, tmp_path: Path, no_connections: list[Any], url: str
) -> None:
    hook = TradeDeskHook(tradedesk_conn)
    job = Job(
        vendor="tradedesk", id="5000001", state=JobState.SUCCEEDED, vendor_status="Success", result_url=url
    )
    target = tmp_path / "r.json"
    started = time.monotonic()
    with pytest.raises(UnsafeResultHost, match="was refused before connecting") as raised:
        hook.download_result(job, str(target))
    assert time.monotonic() - started < 2
    assert no_connections == []
    assert not target.exists()
    host = urlsplit(url).hostname or ""
    named = re.search(rf"{re.escape(host)} (is|resolves to) (\S+) and it is a", str(raised.value))
    assert named is not None, str(raised.value)
    verb, address = named.groups()
    assert ipaddress.ip_address(address) == ipaddress.ip_address(host)  # the literal itself, however spelled
    assert verb == ("is" if address == host else "resolves to")
    with pytest.raises(UnsafeResultHost):  # inline too: nothing lands in XCom
        hook.download_result(job)


def test_a_redirect_to_the_metadata_address_is_refused_naming_the_hop(
    sandbox: SandboxServer, tradedesk_conn: str, tmp_path: Path
) -> None:
    hook, job = link_job(sandbox, tradedesk_conn)
    location = "http://169.254.169.254/latest/meta-data"
    sandbox.state.add_fault(RESULTS_PATH, status=302, headers={"Location": location}, body="")
    target = tmp_path / "r.json"
    with pytest.raises(UnsafeResultHost) as raised:
        hook.download_result(job, str(target))
    message = str(raised.value)
    assert "redirect hop 1 (from " in message and RESULTS_PATH in message
    assert f"{location} was refused before connecting" in message and "cloud metadata" in message
    assert result_requests(sandbox) == 1 and not target.exists()


def test_a_relative_redirect_is_followed_and_checked(
    sandbox: SandboxServer, tradedesk_conn: str, tmp_path: Path
) -> None:
    hook, job = link_job(sandbox, tradedesk_conn, size=200_000)
    assert job.result_url is not None
    relative = job.result_url.split("/")[-1]  # the key alone, resolved against the link itself
    sandbox.state.add_fault(RESULTS_PATH, status=307, headers={"Location": relative}, body="")
    stored = hook.download_result(job, str(tmp_path / "r.json"))
    assert stored["sha256"] == result_sha256(200_000)
    assert result_requests(sandbox) == 2


def test_endless_redirects_stop_after_five_hops(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    hook, job = link_job(sandbox, tradedesk_conn)
    sandbox.state.add_fault(RESULTS_PATH, status=302, count=None, headers={"Location": "again"}, body="")
    with pytest.raises(PermanentVendorError, match="redirected more than 5 times"):
        hook.download_result(job, "/tmp/never-written.json")
    assert result_requests(sandbox) == 6


def test_a_dns_answer_that_changes_after_the_check_is_caught_at_connect(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(result_hosts, "resolve", lambda host, port: ["93.184.216.34"])  # then 127.0.0.1
    url = f"{sandbox.url}{RESULTS_PATH}/1/k"
    policy = HostPolicy(allow_insecure_http=True)
    with pytest.raises(UnsafeResultHost, match=r"the connection went to 127\.0\.0\.1 .* loopback"):
        drain(url, policy)
    assert result_requests(sandbox) == 0  # closed before a byte was sent


def test_private_hosts_with_the_mirror_exception(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    _, job = link_job(sandbox, tradedesk_conn, size=50_000)
    assert job.result_url is not None
    with pytest.raises(UnsafeResultHost, match="plain http"):
        drain(job.result_url, HostPolicy())
    with pytest.raises(UnsafeResultHost, match="loopback address"):
        drain(job.result_url, HostPolicy(allow_insecure_http=True))
    with pytest.raises(UnsafeResultHost, match="plain http"):
        drain(job.result_url, HostPolicy(allow_private=True))
    mirror = HostPolicy(allow_private=True, allow_insecure_http=True)
    assert drain(job.result_url, mirror) == result_size(50_000)


def test_the_hook_reads_the_mirror_extra(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"allow_private_result_hosts": "maybe"}
    monkeypatch.setenv("AIRFLOW_CONN_TTD_EXTRA", tradedesk_connection(sandbox.url, extra=extra))
    hook, job = link_job(sandbox, "ttd_extra")
    with pytest.raises(ConfigurationError, match="extra allow_private_result_hosts must be true or false"):
        hook.download_result(job, "/tmp/never-written.json")
    assert result_requests(sandbox) == 0


# --- limits -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return gzip.compress(b"0" * (200 * 1024 * 1024))


def test_a_gzip_bomb_fails_on_the_inflation_limit_with_flat_memory(
    sandbox: SandboxServer, tradedesk_conn: str, tmp_path: Path, gzip_bomb: bytes
) -> None:
    assert len(gzip_bomb) < 400_000
    hook, job = link_job(sandbox, tradedesk_conn)
    sandbox.state.add_fault(RESULTS_PATH, status=200, body=gzip_bomb, headers={"Content-Encoding": "gzip"})
    target = tmp_path / "r.json"
    tracemalloc.start()
    try:
        with pytest.raises(ResultLimitExceeded) as raised:
            hook.download_result(job, str(target))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.setting == "max_result_inflation" and raised.value.limit == 100
    message = str(raised.value)
    assert (
        "[jobstatus] max_result_inflation" in message
        and "AIRFLOW__JOBSTATUS__MAX_RESULT_INFLATION" in message
    )
    assert "= 100x" in message
    assert not target.exists()
    assert peak < 24 * 1024 * 1024, peak
    assert result_requests(sandbox) == 1  # permanent: not downloaded again


def test_a_result_above_max_result_bytes_fails_and_leaves_no_file(
    sandbox: SandboxServer, tradedesk_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__JOBSTATUS__MAX_RESULT_BYTES", "100000")
    hook, job = link_job(sandbox, tradedesk_conn)
    target = tmp_path / "r.json"
    with pytest.raises(ResultLimitExceeded, match=r"\[jobstatus\] max_result_bytes .* = 100000 bytes"):
        hook.download_result(job, str(target))  # Content-Length says so: refused before reading
    assert not target.exists()
    # No Content-Length to trust (compressed): the limit is counted while streaming.
    monkeypatch.setenv("AIRFLOW__JOBSTATUS__MAX_RESULT_INFLATION", "100000")
    body = gzip.compress(b"1" * 2_000_000)
    sandbox.state.add_fault(RESULTS_PATH, status=200, body=body, headers={"Content-Encoding": "gzip"})
    with pytest.raises(ResultLimitExceeded, match="max_result_bytes") as raised:
        hook.download_result(job, str(target))
    assert raised.value.setting == "max_result_bytes"
    assert not target.exists()


def test_a_dripped_result_fails_on_the_deadline(
    sandbox: SandboxServer, tradedesk_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__JOBSTATUS__RESULT_DOWNLOAD_TIMEOUT", "1")
    hook, job = link_job(sandbox, tradedesk_conn)
    sandbox.state.add_fault(RESULTS_PATH, status=200, body=b"x" * 2000, drip_seconds=0.05, drip_bytes=1)
    target = tmp_path / "r.json"
    started = time.monotonic()
    with pytest.raises(
        ResultLimitExceeded, match=r"\[jobstatus\] result_download_timeout .* = 1 s"
    ) as raised:
        hook.download_result(job, str(target))
    assert time.monotonic() - started < 5
    assert raised.value.setting == "result_download_timeout"
    assert not target.exists() and result_requests(sandbox) == 1


def test_a_dripped_result_fails_on_the_minimum_throughput(
    sandbox: SandboxServer, tradedesk_conn: str
) -> None:
    _, job = link_job(sandbox, tradedesk_conn)
    assert job.result_url is not None
    sandbox.state.add_fault(RESULTS_PATH, status=200, body=b"x" * 2000, drip_seconds=0.05, drip_bytes=1)
    limits = DownloadLimits(min_bytes_per_second=1000, grace_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(
        ResultLimitExceeded, match=r"below \[jobstatus\] min_result_bytes_per_second"
    ) as raised:
        drain(job.result_url, SANDBOX_HOSTS, limits)
    assert time.monotonic() - started < 5
    assert raised.value.setting == "min_result_bytes_per_second"


def test_the_deadline_interrupts_a_read_that_blocks(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    # One byte every 3 s: each read stays under the 60 s read timeout; the watchdog ends it at 0.5 s.
    _, job = link_job(sandbox, tradedesk_conn)
    assert job.result_url is not None
    sandbox.state.add_fault(RESULTS_PATH, status=200, body=b"abcdef", drip_seconds=3, drip_bytes=1)
    limits = DownloadLimits(deadline_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(ResultLimitExceeded, match="result_download_timeout"):
        drain(job.result_url, SANDBOX_HOSTS, limits)
    assert time.monotonic() - started < 2


def test_a_cut_compressed_body_is_transient(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    _, job = link_job(sandbox, tradedesk_conn)
    assert job.result_url is not None
    body = gzip.compress(b'{"rows": []}' * 1000)[:-20]
    sandbox.state.add_fault(RESULTS_PATH, status=200, body=body, headers={"Content-Encoding": "gzip"})
    with pytest.raises(TransientVendorError, match="cut off"):
        drain(job.result_url, SANDBOX_HOSTS)


# --- settings ---------------------------------------------------------------------------------------
OPTIONS = [
    "max_result_bytes",
    "max_result_inflation",
    "result_download_timeout",
    "min_result_bytes_per_second",
]


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("value", ["nan", "-1", "abc", "inf"])
def test_bad_settings_are_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch, option: str, value: str
) -> None:
    env = f"AIRFLOW__JOBSTATUS__{option.upper()}"
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigurationError) as raised:
        DownloadLimits.from_settings()
    message = str(raised.value)
    assert f"[jobstatus] {option}" in message and env in message and repr(value) in message
    assert "unset it for the default" in message


def test_good_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DownloadLimits.from_settings() == DownloadLimits()
    for option, value in zip(OPTIONS, ["5000", "2.5", "10", "0"], strict=True):
        monkeypatch.setenv(f"AIRFLOW__JOBSTATUS__{option.upper()}", value)
    assert DownloadLimits.from_settings() == DownloadLimits(
        max_bytes=5000, max_inflation=2.5, deadline_seconds=10, min_bytes_per_second=0
    )
    monkeypatch.setenv("AIRFLOW__JOBSTATUS__MAX_RESULT_BYTES", "0")
    with pytest.raises(ConfigurationError, match="must be a number above 0"):
        DownloadLimits.from_settings()


def test_a_bad_setting_fails_before_any_download(
    sandbox: SandboxServer, tradedesk_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, job = link_job(sandbox, tradedesk_conn)
    monkeypatch.setenv("AIRFLOW__JOBSTATUS__RESULT_DOWNLOAD_TIMEOUT", "nan")
    with pytest.raises(ConfigurationError, match="result_download_timeout"):
        hook.download_result(job, "/tmp/never-written.json")
    assert result_requests(sandbox) == 0


# --- a result that is not UTF-8 ---------------------------------------------------------------------
def test_a_result_that_is_not_utf8_is_never_decoded_lossily(
    sandbox: SandboxServer, tradedesk_conn: str, tmp_path: Path
) -> None:
    hook, job = link_job(sandbox, tradedesk_conn)
    body = b'{"name": "caf\xe9"}'  # latin-1
    sandbox.state.add_fault(RESULTS_PATH, status=200, body=body)
    with pytest.raises(ResultNotText, match=r"not UTF-8 text \(byte 0xe9 at offset 13\).*set output_path"):
        hook.download_result(job)
    sandbox.state.add_fault(RESULTS_PATH, status=200, body=body, count=2)
    target = tmp_path / "r.bin"
    stored = hook.download_result(job, overflow=lambda: str(target))
    assert stored["path"] == f"file://{target}" and target.read_bytes() == body
