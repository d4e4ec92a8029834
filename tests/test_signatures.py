"""Every public operator and sensor names each of its arguments in its own signature and docstring (issue
16, item 11): ``inspect.signature``, IDE hover and ``help()`` show them with their defaults, instead of
leaving the shared ones (``poll_interval``, ``timeout``, ``deferrable``...) in ``**kwargs`` or only on
:class:`SubmitJobOperator` / :class:`JobSensor`.

The shared arguments are read from the base classes' own signatures, so adding one there and forgetting
a vendor class fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pydoc
import re
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest
from airflow.sdk import DAG, BaseOperator, BaseSensorOperator

from airflow_jobstatus.defaults import DEFAULT_POLL_INTERVAL
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.operators.base import SubmitJobOperator
from airflow_jobstatus.operators.engine import JobEngineOperator
from airflow_jobstatus.provider_info import get_provider_info
from airflow_jobstatus.sensors.base import JobSensor

#: What discovery must find at least (a guard against discovery itself silently finding nothing).
KNOWN = {
    "ZendeskBulkOperator",
    "WistiaJobOperator",
    "WistiaBulkTagOperator",
    "WistiaTrimMediaOperator",
    "WistiaMediaBulkOperator",
    "TradeDeskJobOperator",
    "TradeDeskGraphQLBulkQueryOperator",
    "TradeDeskStandardJobOperator",
    "ZendeskJobSensor",
    "WistiaJobSensor",
    "TradeDeskJobSensor",
}

#: Base arguments a vendor class takes under another name: the connection is ``<vendor>_conn_id``.
RENAMED = {"conn_id"}

#: Base arguments a class deliberately refuses (left out of its signature), with the reason.
REFUSED: dict[str, dict[str, str]] = {
    "TradeDeskJobOperator": {
        "results_path": "a Trade Desk job has one result, not rows per item: output_path instead "
        "(passed through **kwargs it raises ConfigurationError naming output_path)"
    },
}

#: Shared arguments whose default a vendor class decides on purpose: the class, the argument, its default.
VENDOR_DEFAULTS: dict[tuple[str, str], Any] = {
    # None: decided from the request (safe to repeat or not), see each class's docstring.
    ("ZendeskBulkOperator", "resubmit_unconfirmed"): None,
    ("WistiaJobOperator", "resubmit_unconfirmed"): None,
    ("WistiaBulkTagOperator", "resubmit_unconfirmed"): None,
    ("WistiaTrimMediaOperator", "resubmit_unconfirmed"): None,
    ("WistiaMediaBulkOperator", "resubmit_unconfirmed"): None,
    ("TradeDeskStandardJobOperator", "resubmit_unconfirmed"): None,
    # A GraphQL query changes nothing: a lost answer is always safe to resend.
    ("TradeDeskGraphQLBulkQueryOperator", "resubmit_unconfirmed"): True,
}

#: Arguments of Airflow's BaseSensorOperator that every sensor also names (the issue lists ``timeout``).
SENSOR_EXTRAS = ("timeout",)

#: The smallest valid arguments of each class besides the shared ones (for the behaviour checks).
REQUIRED: dict[str, dict[str, Any]] = {
    "ZendeskBulkOperator": {"resource": "tickets", "action": "update_many", "items": [1]},
    "WistiaJobOperator": {},
    "WistiaBulkTagOperator": {"hashed_ids": ["media0001"], "tag_names": ["q4"]},
    "WistiaTrimMediaOperator": {"hashed_id": "media0001", "trims": ["00:00:00.000-00:00:05.000"]},
    "WistiaMediaBulkOperator": {"action": "archive", "hashed_ids": ["media0001"]},
    "TradeDeskJobOperator": {},
    "TradeDeskGraphQLBulkQueryOperator": {"query": "query { advertisers { nodes { id } } }"},
    "TradeDeskStandardJobOperator": {"kind": "first_party_data", "payload": {"advertiserId": "adv1"}},
    "ZendeskJobSensor": {"job_id": "abc"},
    "WistiaJobSensor": {"job_id": "123"},
    "TradeDeskJobSensor": {"job_id": "123", "job_kind": "graphql"},
}


def _modules() -> list[ModuleType]:
    info = get_provider_info()
    names = [
        name for kind in ("operators", "sensors") for entry in info[kind] for name in entry["python-modules"]
    ]
    return [importlib.import_module(name) for name in names]


def _public_classes() -> list[type[BaseOperator]]:
    found = {}
    for module in _modules():
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseOperator)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found[name] = value
    return [found[name] for name in sorted(found)]


CLASSES = _public_classes()


def _params(function: Any) -> dict[str, inspect.Parameter]:
    """The explicit parameters of ``function`` (``self`` and ``**kwargs`` left out)."""
    return {
        name: param
        for name, param in inspect.signature(function).parameters.items()
        if name != "self" and param.kind is not inspect.Parameter.VAR_KEYWORD
    }


def _base(cls: type[BaseOperator]) -> type[BaseOperator]:
    """The shared base whose arguments ``cls`` repeats: the bulk operator (its arguments are the
    engine's and ``results_path``, which a single-job operator refuses), or the sensor."""
    return SubmitJobOperator if issubclass(cls, JobEngineOperator) else JobSensor


def _refused(cls: type[BaseOperator]) -> set[str]:
    """The base arguments ``cls`` (or a class it derives from) deliberately refuses."""
    return {name for klass in cls.__mro__ for name in REFUSED.get(klass.__name__, {})}


def _expected_shared(cls: type[BaseOperator], base_params: set[str]) -> set[str]:
    """The base arguments ``cls`` must name itself (``base_params``: the base's own, as given)."""
    extras = set(SENSOR_EXTRAS) if issubclass(cls, BaseSensorOperator) else set()
    return (base_params | extras) - RENAMED - _refused(cls)


def _missing(cls: type[BaseOperator], base_params: set[str]) -> set[str]:
    """Base arguments ``cls`` leaves to ``**kwargs`` instead of naming them."""
    return _expected_shared(cls, base_params) - set(_params(cls.__init__))


def _conn_param(cls: type[BaseOperator]) -> str:
    (name,) = [name for name in _params(cls.__init__) if name.endswith("_conn_id")]
    return name


def _concrete(cls: type[BaseOperator]) -> type[BaseOperator]:
    """``cls``, or for an abstract base (TradeDeskJobOperator) a subclass that fills in what a vendor
    operator defines: its arguments are what the test reads."""
    if not inspect.isabstract(cls):
        return cls
    filled = {name: lambda *args, **kwargs: None for name in cls.__abstractmethods__}
    return type(cls.__name__, (cls,), filled)


def _by_name(cls: type[BaseOperator]) -> str:
    return cls.__name__


def test_discovery_finds_every_public_class() -> None:
    assert {cls.__name__ for cls in CLASSES} >= KNOWN
    assert set(REQUIRED) >= {cls.__name__ for cls in CLASSES}, "add the new class to REQUIRED"


@pytest.mark.parametrize("cls", CLASSES, ids=_by_name)
def test_shared_arguments_are_explicit_keyword_only_parameters(cls: type[BaseOperator]) -> None:
    base_params = set(_params(_base(cls).__init__))
    assert not _missing(cls, base_params), f"{cls.__name__} leaves these to **kwargs"
    params = _params(cls.__init__)
    assert all(param.kind is inspect.Parameter.KEYWORD_ONLY for param in params.values())
    for name in _refused(cls) | RENAMED:
        assert name not in params, f"{cls.__name__} must not expose {name!r}"
    # The connection, named for the vendor, defaults to the hook's default connection.
    assert params[_conn_param(cls)].default == cls.hook_class.default_conn_name


def test_a_new_base_argument_not_named_by_a_vendor_class_fails() -> None:
    """What the test above checks, with an argument the bases do not have (yet): every class misses it."""
    for cls in CLASSES:
        base_params = set(_params(_base(cls).__init__))
        assert _missing(cls, base_params | {"some_new_argument"}) == {"some_new_argument"}


@pytest.mark.parametrize("cls", [*CLASSES, SubmitJobOperator, JobSensor], ids=_by_name)
def test_every_parameter_has_a_param_line_in_the_class_docstring(cls: type[BaseOperator]) -> None:
    doc = cls.__doc__ or ""
    undocumented = [name for name in _params(cls.__init__) if f":param {name}:" not in doc]
    assert not undocumented, f"{cls.__name__}'s docstring has no :param line for {undocumented}"
    assert "README" in doc, f"{cls.__name__}'s docstring points to no README section"


@pytest.mark.parametrize("cls", CLASSES, ids=_by_name)
def test_shared_defaults_are_the_bases_defaults(cls: type[BaseOperator]) -> None:
    base = _params(_base(cls).__init__)
    if issubclass(cls, BaseSensorOperator):
        base.update((name, _params(BaseSensorOperator.__init__)[name]) for name in SENSOR_EXTRAS)
    params = _params(cls.__init__)
    for name in _expected_shared(cls, set(_params(_base(cls).__init__))):
        expected = VENDOR_DEFAULTS.get((cls.__name__, name), base[name].default)
        assert params[name].default == expected, f"{cls.__name__}.{name}"


@pytest.mark.parametrize("cls", CLASSES, ids=_by_name)
def test_shared_arguments_reach_the_task(cls: type[BaseOperator]) -> None:
    """Each shared argument given a value other than its default ends up on the task (so the class
    passes it on to the base instead of dropping it)."""
    params = _params(cls.__init__)
    changed: dict[str, Any] = {
        "poll_interval": 7.0,
        "max_poll_interval": 70.0,
        "timeout": 123.0,
        "on_partial": "warn",
        "max_jobs_in_flight": 3,
        "results_path": "/tmp/rows",
        "deferrable": False,
    }
    arguments = dict(REQUIRED[cls.__name__])
    for name in _expected_shared(cls, set(_params(_base(cls).__init__))):
        default = params[name].default
        arguments[name] = changed.get(name, not default if isinstance(default, bool) else True)
    arguments[_conn_param(cls)] = "another_conn"
    task = _concrete(cls)(task_id="t", **arguments)
    for name in _expected_shared(cls, set(_params(_base(cls).__init__))):
        assert getattr(task, name) == arguments[name], f"{cls.__name__}.{name}"
    assert task.conn_id == "another_conn"


def test_help_shows_the_defaults() -> None:
    from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
    from airflow_jobstatus.sensors.wistia import WistiaJobSensor

    for cls in (ZendeskBulkOperator, WistiaJobSensor):
        text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
        assert re.search(rf"poll_interval: '?float'? = {DEFAULT_POLL_INTERVAL!r}", text), text[:2000]
        assert "deferrable: 'bool | None' = None" in text
        assert ":param poll_interval:" in text
    assert f"poll_interval: 'float' = {DEFAULT_POLL_INTERVAL!r}" in str(
        inspect.signature(ZendeskBulkOperator)
    )


def test_trade_desk_still_refuses_results_path_through_kwargs() -> None:
    from airflow_jobstatus.operators.tradedesk import TradeDeskStandardJobOperator

    with pytest.raises(ConfigurationError, match=r"results_path is for operators.*set output_path"):
        TradeDeskStandardJobOperator(
            task_id="t", results_path="s3://bucket/rows", **REQUIRED["TradeDeskStandardJobOperator"]
        )


def test_dag_default_args_reach_the_shared_arguments() -> None:
    from airflow_jobstatus.operators.wistia import WistiaMediaBulkOperator
    from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
    from airflow_jobstatus.sensors.tradedesk import TradeDeskJobSensor

    default_args = {"poll_interval": 5, "timeout": 60, "on_partial": "warn", "resubmit_unconfirmed": True}
    with DAG(dag_id="defaults", schedule=None, start_date=datetime(2026, 1, 1), default_args=default_args):
        bulk = ZendeskBulkOperator(task_id="bulk", resource="tickets", action="create_many", items=[{}])
        move = WistiaMediaBulkOperator(task_id="copy", action="copy", hashed_ids=["media0001"])
        sensor = TradeDeskJobSensor(task_id="wait", job_id="1", job_kind="graphql")
        own = ZendeskBulkOperator(
            task_id="own", resource="tickets", action="create_many", items=[], poll_interval=9
        )
    assert (bulk.poll_interval, bulk.timeout, bulk.on_partial) == (5, 60, "warn")
    # default_args beat the vendor's own choice for a create (None: no), as an explicit argument would.
    assert bulk.resubmit_unconfirmed is True and move.resubmit_unconfirmed is True
    assert (sensor.poll_interval, sensor.poke_interval, sensor.timeout, sensor.on_partial) == (
        5,
        5,
        60,
        "warn",
    )
    assert own.poll_interval == 9  # an argument of the task wins over default_args


def test_partial_accepts_every_shared_argument() -> None:
    """``partial`` checks its keywords against the classes' signatures: every shared argument passes,
    and ``expand`` can map one of them."""
    with DAG(dag_id="mapped_signatures", schedule=None, start_date=datetime(2026, 1, 1)):
        for cls in CLASSES:
            if cls.__name__ in ("WistiaJobOperator", "TradeDeskJobOperator"):
                continue  # bases without a request of their own: never a task in a DAG
            shared = _expected_shared(cls, set(_params(_base(cls).__init__))) - {"poll_interval"}
            params = _params(cls.__init__)
            given = {name: params[name].default for name in shared} | REQUIRED[cls.__name__]
            given[_conn_param(cls)] = params[_conn_param(cls)].default
            mapped = cls.partial(task_id=f"m_{cls.__name__}", **given).expand(poll_interval=[5.0, 7.0])
            assert mapped.partial_kwargs["deferrable"] is None
