"""docs/sandbox.md stays true to the sandbox: its routes, knobs, defaults, markers and CLI flags.

The doc is read as text; the sandbox is inspected in-process (its aiohttp routes, its config dataclasses,
the signatures of ``add_fault`` and the ``create_job`` methods, its marker constants, its argument
parser), so nothing here starts a server. The last tests feed the checks a doc with one thing wrong, to
show that each check can fail.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pytest

from airflow_jobstatus import sandbox
from airflow_jobstatus.sandbox import (
    SandboxState,
    TradeDeskSandboxConfig,
    TradeDeskState,
    WistiaSandboxConfig,
    WistiaState,
    ZendeskSandboxConfig,
    ZendeskState,
    build_app,
    tradedesk_checks,
    tradedesk_jobs,
    wistia_jobs,
    zendesk_results,
)
from airflow_jobstatus.sandbox import __main__ as sandbox_cli

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "sandbox.md"
SANDBOX_DIR = Path(sandbox.__file__).resolve().parent
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
VENDORS = ("zendesk", "wistia", "tradedesk")
#: `METHOD /path` at the start of a code span (a path may wrap onto the next line of the doc).
ROUTE_SPAN = re.compile(r"`(" + "|".join(METHODS) + r")\s+(/[^\s`?]*)")
#: `### `METHOD /_sandbox/...``: the reference entry of one control route.
ROUTE_HEADING = re.compile(r"^###\s+`(" + "|".join(METHODS) + r") (/_sandbox/[^`\s]*)`\s*$", re.MULTILINE)

#: Each table of knobs in the doc (under its heading) and what it must list: name -> default.
Knobs = dict[str, Any]


def _dataclass_knobs(cls: type) -> Knobs:
    knobs: Knobs = {}
    for f in fields(cls):
        if f.default is not MISSING:
            knobs[f.name] = f.default
        else:
            assert f.default_factory is not MISSING, f.name
            knobs[f.name] = f.default_factory()
    return knobs


def _signature_knobs(function: Callable[..., Any]) -> Knobs:
    parameters = inspect.signature(function).parameters
    return {name: p.default for name, p in parameters.items() if name != "self"}


KNOB_TABLES: dict[str, Knobs] = {
    "`POST /_sandbox/faults`": _signature_knobs(SandboxState.add_fault),
    "`POST /_sandbox/zendesk/jobs`": _signature_knobs(ZendeskState.create_job),
    "`POST /_sandbox/zendesk/config`": _dataclass_knobs(ZendeskSandboxConfig),
    "`POST /_sandbox/wistia/jobs`": _signature_knobs(WistiaState.create_job),
    "`POST /_sandbox/wistia/config`": _dataclass_knobs(WistiaSandboxConfig),
    "`POST /_sandbox/tradedesk/jobs`": _signature_knobs(TradeDeskState.create_job),
    "`POST /_sandbox/tradedesk/config`": _dataclass_knobs(TradeDeskSandboxConfig),
}


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


# ----- helpers (each takes the doc text, so the tests at the end can feed them a broken one) -----
def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the sandbox serves, without aiohttp's implicit HEADs."""
    routes = set()
    for route in build_app().router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            routes.add((route.method, path))
    return routes


def _pattern(path: str) -> re.Pattern[str]:
    """A route path as a regex: `{id}` matches one segment (`$J` in a shell example too)."""
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def _route_known(method: str, path: str, routes: set[tuple[str, str]]) -> bool:
    return any(m == method and _pattern(p).match(path) for m, p in routes if m != "*" and "{tail" not in p)


def documented_control_routes(text: str) -> set[tuple[str, str]]:
    """The control routes the doc has a reference entry (a `###` heading) for."""
    return {(method, path) for method, path in ROUTE_HEADING.findall(text)}


def mentioned_routes(text: str) -> set[tuple[str, str]]:
    """Every `METHOD /path` code span of the doc; `<vendor>` stands for each vendor."""
    found = set()
    for method, path in ROUTE_SPAN.findall(text):
        paths = [path.replace("<vendor>", v) for v in VENDORS] if "<vendor>" in path else [path]
        found.update((method, p.rstrip(".,;:)")) for p in paths)
    return found


def section(text: str, heading: str) -> str:
    """The text under the first heading containing `heading`, up to the next heading of its level or above."""
    lines = text.split("\n")
    for start, line in enumerate(lines):
        match = re.match(r"^(#+)\s", line)
        if match and heading in line:
            level = len(match.group(1))
            body = []
            for later in lines[start + 1 :]:
                other = re.match(r"^(#+)\s", later)
                if other and len(other.group(1)) <= level:
                    break
                body.append(later)
            return "\n".join(body)
    raise AssertionError(f"docs/sandbox.md has no heading with {heading}")


def table_rows(text: str) -> dict[str, list[str]]:
    """Rows of the markdown tables in `text` whose first cell is one code span: name -> the other cells."""
    rows = {}
    for line in text.split("\n"):
        match = re.match(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def knob_problems(text: str, heading: str, knobs: Knobs) -> list[str]:
    """What the table under `heading` gets wrong: missing or unknown fields, defaults that differ.

    The table's columns are name, type, default (one JSON code span), what.
    """
    rows = table_rows(section(text, heading))
    problems = [f"{heading}: `{name}` is not documented" for name in knobs if name not in rows]
    problems += [f"{heading}: `{name}` is documented but not a field" for name in rows if name not in knobs]
    for name, cells in rows.items():
        if name not in knobs or len(cells) < 2:
            continue
        shown = re.fullmatch(r"`(.+)`", cells[1])
        try:
            documented = json.loads(shown.group(1)) if shown else None
        except ValueError:
            problems.append(f"{heading}: default of `{name}` is not JSON: {cells[1]}")
            continue
        expected = _json_default(knobs[name])
        same_kind = isinstance(documented, bool) == isinstance(expected, bool)
        if shown is None or documented != expected or not same_kind:
            default = json.dumps(expected)
            problems.append(f"{heading}: `{name}` defaults to {default}, the doc says {cells[1]}")
    return problems


def source_markers() -> set[str]:
    """Every marker the sandbox code defines (`*_MARKER` constants; `sandbox:bytes=N` from its regex)."""
    markers = {
        value
        for module in (zendesk_results, wistia_jobs, tradedesk_checks)
        for name, value in vars(module).items()
        if name.endswith("MARKER") and isinstance(value, str)
    }
    bytes_pattern = tradedesk_checks._BYTES_RE.pattern
    assert bytes_pattern == r"sandbox:bytes=(\d+)", bytes_pattern
    return markers | {"sandbox:bytes=N"}


def documented_markers(text: str) -> set[str]:
    return set(table_rows(section(text, "## Markers")))


def sandbox_source() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(SANDBOX_DIR.glob("*.py")))


def cli_flags() -> Knobs:
    """The command line's flags and their defaults (what `parse_args([])` gives)."""
    defaults = vars(sandbox_cli.parse_args([]))
    return {f"--{name.replace('_', '-')}": value for name, value in defaults.items()}


# ----- the doc against the sandbox -----
def test_every_control_route_has_a_reference_entry_and_every_entry_exists(doc: str) -> None:
    served = {(m, p) for m, p in app_routes() if p.startswith("/_sandbox/")}
    documented = documented_control_routes(doc)
    assert served - documented == set(), "control routes docs/sandbox.md has no `### METHOD path` for"
    assert documented - served == set(), "docs/sandbox.md documents control routes the sandbox lacks"


def test_every_vendor_route_is_documented(doc: str) -> None:
    mentioned = mentioned_routes(doc)
    missing = sorted(
        (method, path)
        for method, path in app_routes()
        if method != "*"
        and not path.startswith("/_sandbox/")
        and not path.endswith(".json")  # every Zendesk path also answers with .json: said once
        and (method, path) not in mentioned
    )
    assert missing == [], "vendor routes docs/sandbox.md does not list"


def test_every_route_the_doc_mentions_exists(doc: str) -> None:
    routes = app_routes()
    unknown = sorted((m, p) for m, p in mentioned_routes(doc) if not _route_known(m, p, routes))
    assert unknown == [], "docs/sandbox.md mentions routes the sandbox does not serve"


def test_every_url_in_the_examples_is_served(doc: str) -> None:
    routes = app_routes()
    paths = set(re.findall(r"http://127\.0\.0\.1:8900(/_sandbox/[^\s'\"?)]*)", doc))
    assert paths, "the examples call no control route"
    unknown = sorted(p for p in paths if not any(_route_known(m, p, routes) for m in METHODS))
    assert unknown == [], "the examples of docs/sandbox.md call control paths the sandbox does not serve"


@pytest.mark.parametrize("heading", sorted(KNOB_TABLES))
def test_knob_tables_list_every_field_with_its_default(doc: str, heading: str) -> None:
    assert knob_problems(doc, heading, KNOB_TABLES[heading]) == []


def test_every_documented_marker_is_in_the_sandbox_source(doc: str) -> None:
    source = sandbox_source()
    markers = documented_markers(doc)
    assert len(markers) >= 5, markers
    absent = sorted(m for m in markers if m.removesuffix("N") not in source)
    assert absent == [], "markers documented in docs/sandbox.md that the sandbox code never mentions"


def test_every_marker_of_the_sandbox_is_documented(doc: str) -> None:
    assert source_markers() - documented_markers(doc) == set()


def test_cli_flags_and_defaults(doc: str) -> None:
    rows = table_rows(section(doc, "## Start it"))
    flags = cli_flags()
    assert set(flags) == {flag for flag in rows if flag.startswith("--")}
    for flag, default in flags.items():
        shown = rows[flag][0]
        expected = "off" if default is False else f"`{default}`"
        assert shown == expected, f"{flag}: default {default!r}, the doc says {shown}"


def test_printed_credentials_are_the_config_defaults(doc: str) -> None:
    zendesk, wistia, ttd = ZendeskSandboxConfig(), WistiaSandboxConfig(), TradeDeskSandboxConfig()
    credentials = section(doc, "## Credentials")
    for secret in (zendesk.api_token, zendesk.password, zendesk.oauth_token, wistia.api_token, ttd.api_token):
        assert secret in credentials
    assert f"`{zendesk.email}/token`" in credentials
    assert f'"password": "{zendesk.api_token}"' in doc  # the connection examples
    assert f'"password": "{wistia.api_token}"' in doc
    assert f'"password": "{ttd.api_token}"' in doc


def test_first_ids_and_limits_quoted_in_the_doc(doc: str) -> None:
    flat = " ".join(doc.split())  # a quoted text may wrap onto the next line
    assert f"count up from {wistia_jobs.FIRST_JOB_ID}" in flat
    standard, graphql = tradedesk_jobs.FIRST_STANDARD_ID, tradedesk_jobs.FIRST_GRAPHQL_ID
    assert f"from {standard}, GraphQL ones from {graphql}" in flat
    assert f"stops at {tradedesk_jobs.STOPPED_AT:g}" in flat
    assert tradedesk_jobs.PARTIAL_ERROR in flat and tradedesk_jobs.FAILURE_ERROR in flat


# ----- the checks can fail -----
def test_a_missing_control_route_entry_is_caught(doc: str) -> None:
    broken = doc.replace("### `GET /_sandbox/health`", "### Health")
    served = {(m, p) for m, p in app_routes() if p.startswith("/_sandbox/")}
    assert served - documented_control_routes(broken) == {("GET", "/_sandbox/health")}


def test_an_invented_route_is_caught(doc: str) -> None:
    broken = doc + "\n### `POST /_sandbox/zendesk/explode`\n"
    served = {(m, p) for m, p in app_routes() if p.startswith("/_sandbox/")}
    assert documented_control_routes(broken) - served == {("POST", "/_sandbox/zendesk/explode")}
    assert not _route_known("POST", "/_sandbox/zendesk/explode", app_routes())


def test_a_wrong_default_and_a_missing_knob_are_caught(doc: str) -> None:
    heading = "`POST /_sandbox/zendesk/config`"
    broken = doc.replace("| `max_active_jobs` | integer | `30` |", "| `max_active_jobs` | integer | `31` |")
    broken = re.sub(r"^\| `fail_ids` \|.*\n", "", broken, flags=re.MULTILINE)
    problems = knob_problems(broken, heading, KNOB_TABLES[heading])
    assert any("`max_active_jobs` defaults to 30" in p for p in problems), problems
    assert any("`fail_ids` is not documented" in p for p in problems), problems


def test_an_unknown_marker_is_caught(doc: str) -> None:
    broken = doc.replace("| `sandbox:partial` |", "| `sandbox:half-done` |")
    markers = documented_markers(broken)
    assert "sandbox:half-done" in markers and "sandbox:half-done" not in sandbox_source()
    assert source_markers() - markers == {"sandbox:partial"}
