"""The sandbox application, and `SandboxServer`, which runs it in a background thread for tests."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_jobstatus.vendors import VendorDeclaration, load

from . import control
from .middleware import sandbox_middleware
from .state import SandboxState
from .tls import TlsFiles, make_certificates
from .webutil import STATE_KEY

if TYPE_CHECKING:
    from .tradedesk_jobs import TradeDeskSandboxConfig
    from .wistia_jobs import WistiaSandboxConfig
    from .zendesk_jobs import ZendeskSandboxConfig


def build_app(state: SandboxState | None = None) -> web.Application:
    """Build the aiohttp application serving the /_sandbox control routes and every vendor of ``state``
    (each declaration's route installer, in the declarations' order)."""
    app = web.Application(middlewares=[sandbox_middleware])
    state = state if state is not None else SandboxState()
    app[STATE_KEY] = state
    control.add_routes(app)
    for vendor in state.vendors:
        assert vendor.sandbox is not None  # SandboxState keeps only vendors with a sandbox part
        load(vendor.sandbox.routes)(app)
    return app


def bound_port(runner: web.AppRunner) -> int:
    """Return the TCP port a started runner actually listens on."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the sandbox is not listening on a TCP port")


class SandboxServer:
    """Runs the sandbox on its own event loop in a daemon thread.

    `port=0` picks a free port; `url` gives the real one once started. `state` is shared with the
    running server, so tests can create jobs, add faults and read counters directly. `tls=True` serves
    HTTPS with a certificate made at start-up (see :mod:`.tls`): `ca_file` is then the file clients
    trust (`SSL_CERT_FILE` for aiohttp, `REQUESTS_CA_BUNDLE` for requests); it is removed by `stop()`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state: SandboxState | None = None,
        zendesk: ZendeskSandboxConfig | None = None,
        wistia: WistiaSandboxConfig | None = None,
        tradedesk: TradeDeskSandboxConfig | None = None,
        tls: bool = False,
        *,
        vendors: Sequence[VendorDeclaration] | None = None,
        **configs: Any,
    ) -> None:
        """Prepare (but do not start) a server on `host:port`, with `state`, or fresh state for `vendors`
        (default: the shipped ones) built from `zendesk`, `wistia`, `tradedesk` and `configs` (by vendor
        name: the vendor configs that `reset()` returns to); `tls` serves HTTPS."""
        configs.update(zendesk=zendesk, wistia=wistia, tradedesk=tradedesk)
        given = sorted(name for name, config in configs.items() if config is not None)
        if state is not None and (given or vendors is not None):
            raise ValueError(
                f"give either state or vendors and vendor configs ({', '.join(given)}), not both"
            )
        self.host = host
        self.port = port
        self.state = state if state is not None else SandboxState(vendors=vendors, **configs)
        self.tls = tls
        self._tls_files: TlsFiles | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:54321` (https with `tls`; the bound port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ca_file(self) -> Path | None:
        """The certificate clients must trust (PEM), while a `tls` server runs; else None."""
        return self._tls_files.ca_file if self._tls_files is not None else None

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Start serving; return once the port accepts connections (raise if it does not in `timeout`)."""
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        ready = threading.Event()
        errors: list[BaseException] = []
        if self.tls:
            self._tls_files = make_certificates()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, args=(ready, errors), name="jobstatus-sandbox", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout) or errors:
            self.stop()
            raise RuntimeError(f"the sandbox did not start: {errors[0] if errors else 'timeout'}")
        with socket.create_connection((self.host, self.port), timeout=timeout):
            pass
        return self

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._runner = web.AppRunner(build_app(self.state), access_log=None, shutdown_timeout=0.5)
            loop.run_until_complete(self._runner.setup())
            ssl_context = self._tls_files.server_context() if self._tls_files is not None else None
            site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ssl_context)
            loop.run_until_complete(site.start())
            self.port = bound_port(self._runner)
        except BaseException as exc:  # reported to start(), which raises it
            errors.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def stop(self) -> None:
        """Stop serving and join the thread; safe to call twice."""
        thread, loop = self._thread, self._loop
        if self._tls_files is not None:
            self._tls_files.remove()
            self._tls_files = None
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._loop = self._runner = None

    def reset(self) -> None:
        """Clear jobs, faults and the request log, and restore every config (see `SandboxState.reset`)."""
        self.state.reset()

    def __enter__(self) -> SandboxServer:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()
