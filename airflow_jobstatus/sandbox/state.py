"""Vendor-neutral sandbox state: the request log, injected faults, and one store per vendor.

Which vendors the sandbox emulates comes from their declarations (:mod:`airflow_jobstatus.vendors`): each
names its config class and its store class, built here. Every piece of state is guarded by one re-entrant
lock, because tests read and change it from their own thread while the server's event loop thread answers
requests.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode

from airflow_jobstatus.vendors import VendorDeclaration, built_in, load

from .ratelimit import header_value
from .store import VendorStore

if TYPE_CHECKING:
    from .tradedesk_jobs import TradeDeskSandboxConfig, TradeDeskState
    from .wistia_jobs import WistiaSandboxConfig, WistiaState
    from .zendesk_jobs import ZendeskSandboxConfig, ZendeskState

# Query parameters whose values are never written to the request log.
_SECRET_WORDS = ("token", "password", "secret", "key", "auth", "signature")


def redact_query(query: str) -> str:
    """Return `query` with the value of every credential-like parameter replaced by REDACTED."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    safe = [(k, "REDACTED" if any(w in k.lower() for w in _SECRET_WORDS) else v) for k, v in pairs]
    return urlencode(safe, safe=",[]")


@dataclass(frozen=True)
class RequestRecord:
    """One request the sandbox saw. `auth` is the kind of credential used, never the credential itself.

    `status` is 0 when an injected fault closed the connection without a response.
    `at` is `time.monotonic()` when the request arrived.
    """

    method: str
    path: str
    query: str
    auth: str
    status: int
    at: float
    fault: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        return asdict(self)


@dataclass
class Fault:
    """A response injected for the next `count` requests matching `method` and `path_prefix`.

    `status=None` only delays (`delay` seconds) and then lets the request through; `reset=True` closes the
    connection without any response; `drop_response=True` lets the request be handled (a submit creates
    its job) and then closes the connection, as when an answer is lost on the way back; `count=None` keeps
    the fault until it is cleared. `probability` below 1 makes it strike only that share of the matching
    requests (the others pass untouched and use up nothing): background noise for soak tests.

    Hostile answers: a `bytes` body is sent as it is (a gzip bomb with `headers={"Content-Encoding":
    "gzip"}`, a body that is not UTF-8); `drip_seconds` > 0 sends the body `drip_bytes` at a time with
    that pause between pieces (a result served at 1 byte/s), after the headers.
    """

    path_prefix: str = "/"
    method: str | None = None
    status: int | None = 503
    count: int | None = 1
    retry_after: str | None = None
    body: Any = None
    content_type: str = "application/json"
    delay: float = 0.0
    reset: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    drop_response: bool = False
    probability: float = 1.0
    drip_seconds: float = 0.0
    drip_bytes: int = 1

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this fault applies to a request."""
        method_ok = self.method in (None, "*") or self.method.upper() == method.upper()
        return method_ok and path.startswith(self.path_prefix)


class SandboxState:
    """Everything the sandbox remembers: request log, faults, and one store per vendor (``stores``, by
    vendor name; ``zendesk``, ``wistia`` and ``tradedesk`` for the shipped ones)."""

    def __init__(
        self,
        zendesk: ZendeskSandboxConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        wistia: WistiaSandboxConfig | None = None,
        tradedesk: TradeDeskSandboxConfig | None = None,
        *,
        vendors: Sequence[VendorDeclaration] | None = None,
        **configs: Any,
    ) -> None:
        """Create empty state for ``vendors`` (default: the shipped ones, ``built_in()``; pass
        ``registered()`` for every vendor declared in this process). ``zendesk``, ``wistia``,
        ``tradedesk`` and ``configs`` (by vendor name) are the vendor configs that ``reset()`` returns to;
        a vendor without one gets its config class's defaults."""
        self.lock = threading.RLock()
        self.clock = clock
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.reset_at = float("-inf")  # requests that arrived before the last reset are not logged
        self.random = random.Random(1234)  # probabilistic faults strike the same requests run after run
        given = {"zendesk": zendesk, "wistia": wistia, "tradedesk": tradedesk, **configs}
        declared = [vendor for vendor in (built_in() if vendors is None else vendors) if vendor.sandbox]
        #: The declarations of the vendors this sandbox emulates, in the order their routes are added.
        self.vendors: tuple[VendorDeclaration, ...] = tuple(declared)
        unknown = sorted({name for name, config in given.items() if config is not None} - self.names())
        if unknown:
            raise TypeError(f"no config for {unknown}: this sandbox emulates {sorted(self.names())} only")
        #: Each vendor's store, by vendor name.
        self.stores: dict[str, VendorStore[Any]] = {}
        for vendor in self.vendors:
            assert vendor.sandbox is not None
            config = given.get(vendor.name)
            if config is None:
                config = load(vendor.sandbox.config_class)()
            self.stores[vendor.name] = load(vendor.sandbox.state_class)(config, self.lock, clock)

    def names(self) -> set[str]:
        """The names of the vendors this sandbox emulates."""
        return {vendor.name for vendor in self.vendors}

    def store(self, name: str) -> VendorStore[Any]:
        """The store of vendor ``name`` (a ``VendorStore``); KeyError naming the vendors it has."""
        try:
            return self.stores[name]
        except KeyError:
            raise KeyError(
                f"this sandbox emulates no vendor {name!r} (it has {sorted(self.stores)})"
            ) from None

    @property
    def zendesk(self) -> ZendeskState:
        """The Zendesk store."""
        return cast("ZendeskState", self.store("zendesk"))

    @property
    def wistia(self) -> WistiaState:
        """The Wistia store."""
        return cast("WistiaState", self.store("wistia"))

    @property
    def tradedesk(self) -> TradeDeskState:
        """The Trade Desk store."""
        return cast("TradeDeskState", self.store("tradedesk"))

    # ----- faults -----
    def add_fault(
        self,
        path_prefix: str = "/",
        method: str | None = None,
        status: int | None = 503,
        count: int | None = 1,
        retry_after: str | float | None = None,
        body: Any = None,
        content_type: str = "application/json",
        delay: float = 0.0,
        reset: bool = False,
        headers: dict[str, str] | None = None,
        drop_response: bool = False,
        probability: float = 1.0,
        drip_seconds: float = 0.0,
        drip_bytes: int = 1,
    ) -> Fault:
        """Inject a fault (see `Fault`); it applies before authentication, as a proxy's would."""
        fault = Fault(
            path_prefix=path_prefix,
            method=method,
            status=status,
            count=count,
            retry_after=None if retry_after is None else header_value(retry_after),
            body=body,
            content_type=content_type,
            delay=delay,
            reset=reset,
            headers=dict(headers or {}),
            drop_response=drop_response,
            probability=probability,
            drip_seconds=drip_seconds,
            drip_bytes=drip_bytes,
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching the request and return a copy of it."""
        with self.lock:
            for fault in self.faults:
                if not fault.matches(method, path):
                    continue
                if fault.probability < 1.0 and self.random.random() >= fault.probability:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                return replace(fault)
        return None

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self.lock:
            self.faults.clear()

    # ----- request log -----
    def record(self, record: RequestRecord) -> None:
        """Append one record to the request log, unless its request arrived before the last reset (a
        download streamed to its end is logged after it: it belongs to the log that was reset)."""
        with self.lock:
            if record.at >= self.reset_at:
                self.requests.append(record)

    def count(
        self,
        method: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> int:
        """Count logged requests matching every given filter."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path_prefix is None or r.path.startswith(path_prefix))
                and (status is None or r.status == status)
            )

    def reset(self) -> None:
        """Clear the log, the faults and every vendor store, and restore the initial configs."""
        with self.lock:
            self.requests.clear()
            self.reset_at = self.clock()
            self.faults.clear()
            for store in self.stores.values():
                store.reset()
