"""The vendor registry: one :class:`VendorDeclaration` per vendor, read by the provider info, the sandbox
and the tests instead of a list of vendors written out in each.

The shipped vendors are declared in this package, one module each (``vendors/zendesk.py`` and so on, each
defining ``DECLARATION``): :func:`built_in`. A vendor declared elsewhere (a test, a user's own package)
joins with :func:`register`; :func:`registered` gives them all. Light to import: Airflow loads the
provider info, which reads this, at start-up (standard library only, classes named by import path).
"""

from __future__ import annotations

import importlib
import threading

from .declaration import (
    JOB_TRIGGER_MODULE,
    SECRET_SCHEMA,
    ConnectionForm,
    ModuleKind,
    SandboxDeclaration,
    VendorDeclaration,
    budget_field,
    load,
    secret_field,
)

__all__ = [
    "BUILT_IN",
    "JOB_TRIGGER_MODULE",
    "SECRET_SCHEMA",
    "ConnectionForm",
    "ModuleKind",
    "SandboxDeclaration",
    "VendorDeclaration",
    "budget_field",
    "built_in",
    "get",
    "load",
    "register",
    "registered",
    "secret_field",
    "unregister",
]

#: The modules of this package that declare the shipped vendors, in the order Airflow lists them.
BUILT_IN = ("zendesk", "wistia", "tradedesk")

_lock = threading.Lock()
_registered: dict[str, VendorDeclaration] = {}


def built_in() -> tuple[VendorDeclaration, ...]:
    """The vendors this package ships, in their order (the provider info lists exactly these)."""
    return tuple(importlib.import_module(f"{__name__}.{module}").DECLARATION for module in BUILT_IN)


def registered() -> tuple[VendorDeclaration, ...]:
    """Every vendor known in this process: the shipped ones, then those registered, in that order."""
    with _lock:
        extra = tuple(_registered.values())
    return built_in() + extra


def get(name: str) -> VendorDeclaration:
    """The declaration of vendor ``name`` (shipped or registered); KeyError naming the known ones."""
    for declaration in registered():
        if declaration.name == name:
            return declaration
    known = ", ".join(declaration.name for declaration in registered())
    raise KeyError(f"no vendor {name!r} is declared (known: {known})")


def register(declaration: VendorDeclaration) -> VendorDeclaration:
    """Add a vendor declared outside this package and return it; registering the same declaration again
    does nothing. A ValueError if its name, connection type or default connection is another vendor's."""
    with _lock:
        others = [*built_in(), *(d for d in _registered.values() if d.name != declaration.name)]
        same = _registered.get(declaration.name)
        if same is not None and same != declaration:
            raise ValueError(f"vendor {declaration.name!r} is registered already, with another declaration")
        for other in others:
            clash = _clash(declaration, other)
            if clash:
                raise ValueError(f"vendor {declaration.name!r} has the {clash} of vendor {other.name!r}")
        _registered[declaration.name] = declaration
    return declaration


def unregister(name: str) -> None:
    """Remove a registered vendor (a shipped vendor cannot be removed); KeyError if none has that name."""
    with _lock:
        if name not in _registered:
            raise KeyError(f"no vendor {name!r} was registered (the shipped ones cannot be removed)")
        del _registered[name]


def _clash(new: VendorDeclaration, other: VendorDeclaration) -> str | None:
    """What ``new`` takes that ``other`` has already (None when nothing)."""
    if new.name == other.name:
        return "name"
    if new.connection.connection_type == other.connection.connection_type:
        return f"connection type {new.connection.connection_type!r}"
    if new.default_conn_id == other.default_conn_id:
        return f"default connection {new.default_conn_id!r}"
    prefixes = [d.sandbox.url_prefix for d in (new, other) if d.sandbox is not None]
    if len(prefixes) == 2 and prefixes[0] and prefixes[0] == prefixes[1]:
        return f"sandbox url_prefix {prefixes[0]!r}"
    return None
