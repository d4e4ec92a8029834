"""(d) Import cost at DAG parse: what importing our operator modules adds to an interpreter that has
imported Airflow, vs ``airflow.providers.dbt.cloud.operators.dbt`` (the anchor).

A fresh interpreter runs ``import airflow`` (the DAG processor has it, and with it ``airflow.sdk``'s
BaseOperator), then forks one child per measurement, as Airflow's DAG processor forks per DAG file;
each child times the import of one module set (perf_counter) and lists the modules it added. Wall: the
median of 7 children per set, the sets interleaved (a change of load on the machine hits them alike).
``-X importtime``: one more fresh interpreter started with that flag, one child per set, the cumulative
time of the child's top-level imports.

``python -m benchmarks.import_cost [--quick]``
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PYTHON,
    REPO,
    Result,
    Row,
    Workdir,
    command_line,
    fmt,
    median,
    ratio,
    verdict,
    worker_env,
)

RUNS = 7
TARGET = 1 / 3
OURS_OPERATORS = [
    "airflow_jobstatus.operators.zendesk",
    "airflow_jobstatus.operators.wistia",
    "airflow_jobstatus.operators.tradedesk",
]
OURS_SENSORS = [
    "airflow_jobstatus.sensors.zendesk",
    "airflow_jobstatus.sensors.wistia",
    "airflow_jobstatus.sensors.tradedesk",
]
ANCHOR = "anchor: dbt.cloud.operators.dbt"
SETS: dict[str, list[str]] = {
    "ours: operators.zendesk": OURS_OPERATORS[:1],
    "ours: every operator and sensor module": OURS_OPERATORS + OURS_SENSORS,
    ANCHOR: ["airflow.providers.dbt.cloud.operators.dbt"],
}
HEAVY = ("aiohttp", "pydantic", "airflow_jobstatus.sandbox", "requests")
MARK = "@@after-airflow"

#: The interpreter: imports Airflow, then forks a child per measurement; rounds interleave the sets.
#: With ``capture``, each child sends its stderr (``-X importtime`` lines) to a file of its own.
FORKED = """
import importlib, json, os, sys, time
import airflow
sets, rounds, heavy, capture = {sets!r}, {rounds!r}, {heavy!r}, {capture!r}
results = {{name: [] for name in sets}}
for round_ in range(rounds):
    for number, (name, modules) in enumerate(sets.items()):
        read_end, write_end = os.pipe()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            if capture:
                os.dup2(os.open(capture + "-" + str(number), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
            before = set(sys.modules)
            started = time.perf_counter()
            for module in modules:
                importlib.import_module(module)
            seconds = time.perf_counter() - started
            new = set(sys.modules) - before
            report = {{"seconds": seconds, "new_modules": len(new), "heavy": [h for h in heavy if h in new]}}
            sys.stderr.flush()
            os.write(write_end, json.dumps(report).encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            results[name].append(json.loads(pipe.read()))
        os.waitpid(pid, 0)
print(json.dumps(results))
"""


def forked(sets: dict[str, list[str]], rounds: int, env: dict[str, str], capture: str = "") -> dict[str, Any]:
    """Run :data:`FORKED` in a fresh interpreter (with ``-X importtime`` when ``capture`` is the stem of
    the files the children write their import times to); return its reports per set."""
    code = FORKED.format(sets=sets, rounds=rounds, heavy=HEAVY, capture=capture)
    flags = ["-X", "importtime"] if capture else []
    process = subprocess.run(
        [PYTHON, *flags, "-c", code],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if process.returncode != 0:
        raise RuntimeError(f"the import benchmark failed: {process.stderr[-3000:]}")
    results: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    return results


def top_level_imports(stderr: str) -> dict[str, int]:
    """The cumulative microseconds of each top-level import in ``-X importtime`` output."""
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        _, cumulative, name = line.split("|", 2)
        if cumulative.strip().isdigit() and not name[1:].startswith(" "):
            found[name.strip()] = found.get(name.strip(), 0) + int(cumulative)
    return found


def largest(imports: dict[str, int], count: int = 4) -> str:
    """The biggest top-level imports, in ms."""
    ranked = sorted(imports.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {us / 1000:.0f}" for name, us in ranked) or "none"


def loaded(runs: list[dict[str, Any]]) -> str:
    """How many modules a set's import added, and which of :data:`HEAVY` among them."""
    heavy = sorted({module for run in runs for module in run["heavy"]})
    return f"{runs[0]['new_modules']} ({', '.join(heavy) or 'none'})"


def run(quick: bool = False) -> Result:
    """Time every set; return the table."""
    runs = 2 if quick else RUNS
    print(f"(d) import cost: {len(SETS)} module sets, {runs} forked children each", flush=True)
    with Workdir("d") as workdir:
        env = worker_env(workdir.airflow_env())
        forked(
            {"every set": [module for modules in SETS.values() for module in modules]}, 1, env
        )  # compile once
        timed = forked(SETS, runs, env)
        capture = str(workdir.path / "importtime")
        forked(SETS, 1, env, capture)
        imports = {name: top_level_imports(Path(f"{capture}-{n}").read_text()) for n, name in enumerate(SETS)}
    profiled = {name: sum(found.values()) for name, found in imports.items()}
    medians = {name: median([run["seconds"] for run in runs_]) * 1000 for name, runs_ in timed.items()}
    anchor_name = ANCHOR
    anchor_ms, anchor_profiled = medians[anchor_name], profiled[anchor_name] / 1000
    rows = []
    for name in SETS:
        if name == anchor_name:
            continue
        wall_ratio = ratio(medians[name], anchor_ms)
        rows.append(
            Row(
                f"{name.removeprefix('ours: ')}: wall, median (ms)",
                fmt(medians[name], 0),
                fmt(anchor_ms, 0),
                fmt(wall_ratio, 3),
                "<= 0.333",
                verdict(wall_ratio <= TARGET),
            )
        )
        rows.append(
            Row(
                f"{name.removeprefix('ours: ')}: -X importtime cumulative (ms)",
                fmt(profiled[name] / 1000, 0),
                fmt(anchor_profiled, 0),
                fmt(ratio(profiled[name] / 1000, anchor_profiled), 3),
            )
        )
        rows.append(
            Row(
                f"{name.removeprefix('ours: ')}: modules newly imported (heavy ones)",
                loaded(timed[name]),
                loaded(timed[anchor_name]),
            )
        )
        rows.append(
            Row(
                f"{name.removeprefix('ours: ')}: largest top-level imports (ms)",
                largest(imports[name]),
                largest(imports[anchor_name]),
            )
        )
    result = Result(
        key="d",
        title="(d) Import cost at DAG parse, after `import airflow`",
        anchor="dbt Cloud operators",
        rows=rows,
        notes=[
            f"Wall: the median of {runs} children per module set. One fresh interpreter imports Airflow and "
            "forks a child per measurement (Airflow's DAG processor forks per DAG file too); the child times "
            "its imports with perf_counter. Sets interleaved; bytecode compiled once beforehand (as a "
            "deployment has it). Importtime: a fresh interpreter started with -X importtime, one child per "
            "set, the sum of the cumulative times of the child's top-level imports.",
            "Heavy modules looked for: " + ", ".join(HEAVY) + " (issue 8: no aiohttp, no other vendors' "
            "pydantic models, no sandbox at DAG parse; pydantic itself comes with Airflow).",
        ],
        raw={
            "medians_ms": medians,
            "importtime_us": profiled,
            "top_level_imports_us": imports,
            "runs": timed,
        },
    )
    result.show()
    return result


def main() -> None:
    """Command line."""
    command_line(run, __doc__, "2 interpreters per set (a smoke run)")


if __name__ == "__main__":
    main()
