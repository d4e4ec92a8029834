"""What one vendor declares: its integration, its classes (as import paths), its connection form, its
default connection, and its part of the sandbox.

Plain data only: Airflow reads the provider info (built from these) at start-up, so this module imports
nothing beyond the standard library. Every class or function is named by its dotted import path and
imported only by whoever needs it (:func:`load`).
"""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: The one trigger every vendor's waits run in.
JOB_TRIGGER_MODULE = "airflow_jobstatus.triggers.job"
#: The schema of a secret connection extra (the form masks it; empty is allowed).
SECRET_SCHEMA: Mapping[str, Any] = {"type": ["string", "null"], "format": "password"}
#: The lists of the provider info that name a vendor's modules.
ModuleKind = Literal["hooks", "operators", "sensors", "triggers"]

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
#: Names a vendor may not take: the keyword arguments of SandboxState and SandboxServer besides configs.
RESERVED_NAMES = frozenset({"clock", "vendors", "host", "port", "state", "tls"})


def budget_field(default: int, why: str) -> dict[str, Any]:
    """The form field of the connection's rate budget (connection extra ``requests_per_minute``)."""
    return {
        "label": "Requests per minute",
        "description": (
            f"Most requests a minute each triggerer or worker sends on this connection (all processes "
            f"together with [jobstatus] rate_limit_storage). Empty: {default} ({why})."
        ),
        "schema": {"type": ["integer", "null"], "minimum": 1},
    }


#: The form field of the account's reserve (extra ``rate_limit_reserve_percent``), added to every vendor
#: form that has a budget field.
RESERVE_FIELD: dict[str, Any] = {
    "label": "Rate limit reserve (%)",
    "description": (
        "Share of the account's rate limit left to its other integrations, where the vendor reports the "
        "limit in its answers (Zendesk). Empty: 20."
    ),
    "schema": {"type": ["number", "null"], "minimum": 0, "maximum": 90},
}


def secret_field(label: str, description: str) -> dict[str, Any]:
    """A form field for a secret connection extra (masked in the UI)."""
    return {"label": label, "description": description, "schema": dict(SECRET_SCHEMA)}


def load(path: str) -> Any:
    """The object at a dotted import path (``package.module.Name``), importing its module."""
    module_name, _, attribute = path.rpartition(".")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(f"{module_name} defines no {attribute!r} (from the vendor path {path!r})") from None


def _check_path(what: str, path: str) -> None:
    if not _DOTTED.fullmatch(path):
        raise ValueError(f"{what} must be a dotted import path such as 'package.module.Name', not {path!r}")


@dataclass(frozen=True)
class ConnectionForm:
    """The vendor's connection type as Airflow's UI shows it (an entry of ``connection-types``).

    :param connection_type: e.g. ``jobstatus_zendesk`` (the hook's ``conn_type``).
    :param hook_name: the name the UI lists the type under (the hook's ``hook_name``).
    :param ui_field_behaviour: ``hidden-fields``, ``relabeling`` and ``placeholders`` of the standard fields.
    :param conn_fields: the extra fields, by extra name: ``label``, ``description`` and a JSON ``schema``.
    """

    connection_type: str
    hook_name: str
    ui_field_behaviour: Mapping[str, Any]
    conn_fields: Mapping[str, Any]


@dataclass(frozen=True)
class SandboxDeclaration:
    """The vendor's part of the sandbox (:mod:`airflow_jobstatus.sandbox`), as import paths.

    :param config_class: a dataclass of the emulated account's knobs; it takes ``api_token`` and
        ``job_seconds`` keywords (the tests' canary token, ``--job-seconds``).
    :param state_class: the vendor's store, a ``VendorStore`` subclass built as
        ``State(config, lock, clock)``; it has ``create_job(...)`` and ``submits``.
    :param routes: a function ``add_routes(app)`` registering the vendor's API and control routes.
    :param url_prefix: where the vendor's API lives on the sandbox ("" for the root, else ``/name``): a
        connection's host is the sandbox URL plus this.
    :param printed: the lines ``python -m airflow_jobstatus.sandbox`` prints for the vendor, as
        ``str.format`` templates of ``url`` (the sandbox's) and ``config`` (the vendor's config).
    :param connection_fields: what a connection to the sandbox holds besides host and password (e.g.
        Zendesk's ``login``).
    """

    config_class: str
    state_class: str
    routes: str
    url_prefix: str = ""
    printed: tuple[str, ...] = ()
    connection_fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse paths that are not dotted import paths and a prefix that is not ``/name``."""
        for what in ("config_class", "state_class", "routes"):
            _check_path(f"sandbox {what}", getattr(self, what))
        if self.url_prefix and (not self.url_prefix.startswith("/") or self.url_prefix.endswith("/")):
            raise ValueError(f"sandbox url_prefix must be '' or like '/name', not {self.url_prefix!r}")


@dataclass(frozen=True)
class VendorDeclaration:
    """Everything the provider, the sandbox and the tests need to know about one vendor.

    :param name: the short name (``zendesk``): the store's name in the sandbox, the key of the registry.
    :param product: the vendor's product as the provider's description names it ("Zendesk Support").
    :param integration_name: the integration in Airflow's provider info ("Zendesk job statuses").
    :param docs_url: the vendor's API documentation (the integration's ``external-doc-url``).
    :param hook_class: import path of the hook (a ``JobHook`` subclass); its module is the hooks entry.
    :param operator_modules: import paths of the modules holding the vendor's operators.
    :param sensor_modules: import paths of the modules holding the vendor's sensors.
    :param connection: the connection type's form.
    :param default_conn_id: the hook's default connection id (``zendesk_default``).
    :param sandbox: the vendor's part of the sandbox (None: the sandbox does not emulate it).
    :param trigger_modules: the modules of its triggers (the one JobTrigger unless it brings its own).
    :param tags: the integration's tags.
    """

    name: str
    product: str
    integration_name: str
    docs_url: str
    hook_class: str
    operator_modules: tuple[str, ...]
    sensor_modules: tuple[str, ...]
    connection: ConnectionForm
    default_conn_id: str
    sandbox: SandboxDeclaration | None = None
    trigger_modules: tuple[str, ...] = (JOB_TRIGGER_MODULE,)
    tags: tuple[str, ...] = ("service",)

    def __post_init__(self) -> None:
        """Refuse a name or paths the registry, the provider info or the sandbox could not use."""
        if not _NAME.fullmatch(self.name) or self.name in RESERVED_NAMES:
            raise ValueError(
                f"a vendor name is lower-case letters, digits and '_' (not {sorted(RESERVED_NAMES)}), "
                f"not {self.name!r}"
            )
        _check_path("hook_class", self.hook_class)
        for what in ("operator_modules", "sensor_modules", "trigger_modules"):
            for path in getattr(self, what):
                _check_path(what, path)
        if not self.default_conn_id.strip() or not self.connection.connection_type.strip():
            raise ValueError(f"vendor {self.name!r} needs a default_conn_id and a connection_type")

    @property
    def hook_module(self) -> str:
        """The module of the hook class (the provider info's hooks entry)."""
        return self.hook_class.rpartition(".")[0]

    @property
    def conn_env(self) -> str:
        """The environment variable that defines the default connection (``AIRFLOW_CONN_ZENDESK_DEFAULT``)."""
        return "AIRFLOW_CONN_" + self.default_conn_id.upper()

    def modules(self, kind: ModuleKind) -> tuple[str, ...]:
        """The vendor's modules of one kind, as the provider info lists them."""
        if kind == "hooks":
            return (self.hook_module,)
        return {"operators": self.operator_modules, "sensors": self.sensor_modules}.get(
            kind, self.trigger_modules
        )

    def integration_entry(self) -> dict[str, Any]:
        """The vendor's entry of the provider info's ``integrations``."""
        return {
            "integration-name": self.integration_name,
            "external-doc-url": self.docs_url,
            "tags": list(self.tags),
        }

    def modules_entry(self, kind: ModuleKind) -> dict[str, Any] | None:
        """The vendor's entry of the provider info's ``hooks``, ``operators``, ``sensors`` or ``triggers``
        (None when it has no module of that kind)."""
        modules = self.modules(kind)
        return (
            {"integration-name": self.integration_name, "python-modules": list(modules)} if modules else None
        )

    def connection_entry(self) -> dict[str, Any]:
        """The vendor's entry of the provider info's ``connection-types`` (a copy: callers may change it)."""
        form = self.connection
        return {
            "connection-type": form.connection_type,
            "hook-class-name": self.hook_class,
            "hook-name": form.hook_name,
            "ui-field-behaviour": copy.deepcopy(dict(form.ui_field_behaviour)),
            "conn-fields": copy.deepcopy(_with_reserve(dict(form.conn_fields))),
        }


def _with_reserve(fields: dict[str, Any]) -> dict[str, Any]:
    """The form's fields, with the account's reserve after the budget field (where there is one)."""
    if "requests_per_minute" not in fields or "rate_limit_reserve_percent" in fields:
        return fields
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        out[name] = spec
        if name == "requests_per_minute":
            out["rate_limit_reserve_percent"] = RESERVE_FIELD
    return out
