"""README.md stays true to the code: every ``python`` block compiles, and every block that is a complete
DAG (``with DAG(`` or ``@dag``) parses with ``DagBag`` and builds its DAG, as Airflow's DAG processor
would (an argument an operator or sensor does not take, or a required one left out, such as
``TradeDeskJobSensor``'s ``job_kind``, fails the parse). And every README section that a docstring or
another document names (``see README, "What a retry does"``) is a heading of README.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: A fenced block and the heading it sits under.
_FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)
#: Connections for every vendor: building a DAG never reads them, but a snippet that did would find one.
DUMMY_CONNECTIONS = {
    "AIRFLOW_CONN_ZENDESK_DEFAULT": '{"conn_type": "jobstatus_zendesk", "host": "example.zendesk.com", '
    '"login": "agent@example.com", "password": "dummy"}',
    "AIRFLOW_CONN_WISTIA_DEFAULT": '{"conn_type": "jobstatus_wistia", "password": "dummy"}',
    "AIRFLOW_CONN_TRADEDESK_DEFAULT": '{"conn_type": "jobstatus_tradedesk", "password": "dummy"}',
}


#: ``README, "A"``, ``README: "A" > "B", "C" and "D"``, ``README.md, "A"``: the quoted section titles.
_REFERENCE = re.compile(r'README(?:\.md)?[,:]\s*((?:"[^"]+"(?:\s*(?:>|,|and)\s*)*)+)')
#: Where README sections are named.
REFERRING = ("airflow_jobstatus/**/*.py", "scripts/*.py", "benchmarks/**/*", "tests/**/*.py", "docs/*.md")
REFERRING_FILES = ("CONTRIBUTING.md", "pyproject.toml", "Makefile")


def python_blocks() -> list[tuple[str, str]]:
    """``(id, source)`` of every python block in README.md; the id names the heading above it."""
    text = README.read_text()
    blocks = []
    for number, match in enumerate(_FENCE.finditer(text)):
        headings = _HEADING.findall(text, 0, match.start())
        where = re.sub(r"\W+", "_", headings[-1] if headings else "top").strip("_").lower()
        blocks.append((f"{number}-{where}", match.group(1)))
    return blocks


def is_complete_dag(source: str) -> bool:
    return "with DAG(" in source or "@dag" in source


DAG_BLOCKS = [pytest.param(source, id=name) for name, source in python_blocks() if is_complete_dag(source)]


def parse_dag_file(path: Path) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.3
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    return DagBag(dag_folder=str(path), bundle_path=path.parent, safe_mode=False)


def build(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in DUMMY_CONNECTIONS.items():
        monkeypatch.setenv(name, value)
    dag_file = tmp_path / "readme_snippet.py"
    dag_file.write_text(source)
    return parse_dag_file(dag_file)


def test_the_readme_shows_a_dag_for_every_vendor() -> None:
    sources = [param.values[0] for param in DAG_BLOCKS]
    assert len(sources) >= 3
    for name in ("ZendeskBulkOperator", "ZendeskJobSensor", "WistiaBulkTagOperator", "WistiaJobSensor"):
        assert any(name in source for source in sources), name
    for name in ("TradeDeskGraphQLBulkQueryOperator", "TradeDeskStandardJobOperator", "TradeDeskJobSensor"):
        assert any(name in source for source in sources), name
    assert any(".expand(" in source for source in sources)
    assert any(".expand_kwargs(" in source for source in sources)


@pytest.mark.parametrize("source", [pytest.param(source, id=name) for name, source in python_blocks()])
def test_every_python_block_compiles(source: str) -> None:
    # Hook examples may ``await`` at the top, as in a notebook or an async function's body.
    compile(source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize("source", DAG_BLOCKS)
def test_every_dag_block_builds_its_dag(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bag = build(source, tmp_path, monkeypatch)
    assert bag.import_errors == {}
    assert bag.dags, "the block defines no DAG"
    for dag in bag.dags.values():
        assert dag.task_ids, f"DAG {dag.dag_id} has no tasks"


def test_a_snippet_with_a_wrong_argument_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above is a real one: a sensor missing a required argument fails the parse."""
    source = (
        "from airflow.sdk import DAG\n"
        "from airflow_jobstatus.sensors.tradedesk import TradeDeskJobSensor\n"
        "with DAG(dag_id='broken', schedule=None):\n"
        "    TradeDeskJobSensor(task_id='wait', job_id='1')\n"
    )
    bag = build(source, tmp_path, monkeypatch)
    (error,) = bag.import_errors.values()
    assert "needs job_kind" in error


def readme_references() -> list[tuple[str, str]]:
    """``(file, title)`` for every README section named in the code and the other documents."""
    files = {path for pattern in REFERRING for path in ROOT.glob(pattern) if path.is_file()}
    files |= {ROOT / name for name in REFERRING_FILES if (ROOT / name).is_file()}
    found = []
    for path in sorted(files - {Path(__file__).resolve()}):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for match in _REFERENCE.finditer(text):
            for title in re.findall(r'"([^"]+)"', match.group(1)):
                found.append((str(path.relative_to(ROOT)), re.sub(r"\s+", " ", title)))
    return found


def test_every_readme_section_named_elsewhere_is_a_heading() -> None:
    headings = [re.sub(r"\s+", " ", title) for title in _HEADING.findall(README.read_text())]
    references = readme_references()
    assert len(references) > 20  # the docstrings do name sections: the pattern still finds them
    missing = [
        (path, title)
        for path, title in references
        # "Deferrable or not" names the heading "Deferrable or not: `[operators] default_deferrable`"
        if not any(heading == title or heading.startswith((f"{title}:", f"{title} ")) for heading in headings)
    ]
    assert not missing, f"README.md has no section for: {missing}"
