"""`python -m airflow_jobstatus.sandbox [--host H] [--port P] [--job-seconds S] [--tls]`: serve until Ctrl-C.

With `--tls` it serves HTTPS with a certificate made at start-up, and prints the CA file to trust
(`SSL_CERT_FILE=<file>` for aiohttp, `REQUESTS_CA_BUNDLE=<file>` for requests) as its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING

from aiohttp import web

from airflow_jobstatus.vendors import load, registered

from .server import bound_port, build_app
from .state import SandboxState
from .tls import TlsFiles, make_certificates

if TYPE_CHECKING:
    from .tradedesk_jobs import TradeDeskSandboxConfig
    from .wistia_jobs import WistiaSandboxConfig
    from .zendesk_jobs import ZendeskSandboxConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m airflow_jobstatus.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--job-seconds", type=float, default=3.0, help="how long a job takes (seconds)")
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a certificate made at start-up (prints its CA)"
    )
    return parser.parse_args(argv)


def printed_lines(url: str, state: SandboxState) -> list[str]:
    """What the command prints for each vendor of ``state`` (each declaration's ``printed`` templates,
    filled with the sandbox's ``url`` and the vendor's config), in the vendors' order."""
    lines = []
    for vendor in state.vendors:
        assert vendor.sandbox is not None  # SandboxState keeps only vendors with a sandbox part
        config = state.stores[vendor.name].config
        lines += [template.format(url=url, config=config) for template in vendor.sandbox.printed]
    return lines


async def serve(
    host: str,
    port: int,
    config: ZendeskSandboxConfig | None = None,
    wistia: WistiaSandboxConfig | None = None,
    tradedesk: TradeDeskSandboxConfig | None = None,
    tls: bool = False,
    *,
    state: SandboxState | None = None,
) -> None:
    """Serve the sandbox until SIGINT or SIGTERM (HTTPS with `tls`): `state`, or the shipped vendors built
    from `config` (Zendesk's), `wistia` and `tradedesk`."""
    if state is None:
        state = SandboxState(zendesk=config, wistia=wistia, tradedesk=tradedesk)
    runner = web.AppRunner(build_app(state), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    tls_files = make_certificates() if tls else None
    ssl_context = tls_files.server_context() if tls_files is not None else None
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        await _announce_and_wait(runner, host, state, tls_files)
    finally:
        await runner.cleanup()
        if tls_files is not None:
            tls_files.remove()


async def _announce_and_wait(
    runner: web.AppRunner, host: str, state: SandboxState, tls_files: TlsFiles | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    shown = f"[{host}]" if ":" in host else host
    url = f"{'https' if tls_files is not None else 'http'}://{shown}:{bound_port(runner)}"
    print(f"sandbox listening on {url}", flush=True)
    for line in printed_lines(url, state):
        print(line, flush=True)
    if tls_files is not None:
        print(f"tls: trust {tls_files.ca_file} (SSL_CERT_FILE, REQUESTS_CA_BUNDLE)", flush=True)
    await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point: every vendor declared in this process (``registered()``), jobs of ``--job-seconds``."""
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        vendors = registered()
        configs = {
            vendor.name: load(vendor.sandbox.config_class)(job_seconds=args.job_seconds)
            for vendor in vendors
            if vendor.sandbox is not None
        }
        state = SandboxState(vendors=vendors, **configs)
        asyncio.run(serve(args.host, args.port, tls=args.tls, state=state))


if __name__ == "__main__":
    main()
