"""(c) Memory: a 1 GB Trade Desk result (the sandbox generates it as a stream) downloaded to a file path,
in a fresh interpreter: the growth of peak RSS while it downloads.

Ours: ``TradeDeskHook.download_result(job, "file://...")``, the operators' result delivery
(``results.deliver_result`` streaming to an ObjectStoragePath). Anchor: what the HTTP provider offers
today, ``HttpHook(method="GET").run(endpoint)`` (what ``HttpOperator`` calls), the body then written
to the file.

``python -m benchmarks.result_memory [--quick]``; with ``--spec/--out`` it is the worker.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    HTTP_CONN,
    TRADEDESK_CONN,
    TRADEDESK_TOKEN,
    Result,
    Row,
    Sandbox,
    Workdir,
    fmt,
    proc_status_kb,
    ratio,
    reset_peak_rss,
    run_worker,
    verdict,
    worker_env,
)

SIZE = 1_000_000_000
WARM_SIZE = 6_000_000  # above the sandbox's inline limit (5 MB): a real download
TARGET_MB = 64.0
#: Free space needed for a result of N bytes: the file, and room to spare.
SPACE_FACTOR = 3


def download(spec: dict[str, Any], job_id: str, path_or_url: str, output: str) -> int:
    """One download the worker's way; returns the bytes written."""
    if spec["kind"] == "ours":
        from airflow_jobstatus.hooks.tradedesk import TradeDeskHook

        hook = TradeDeskHook(TRADEDESK_CONN, job_kind="standard")
        stored = hook.download_result(hook.get_job(job_id), f"file://{output}")
        return int(stored["size"])
    from airflow.providers.http.hooks.http import HttpHook

    response = HttpHook(method="GET", http_conn_id=HTTP_CONN).run(endpoint=path_or_url)
    Path(output).write_bytes(response.content)
    return len(response.content)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Warm up with a small result, then measure the big one."""
    import airflow  # noqa: F401  (as on a worker: Airflow is loaded before the task runs)

    download(spec, spec["warm_id"], spec["warm_path"], spec["warm_output"])
    peak_reset = reset_peak_rss()
    rss_before = proc_status_kb("VmRSS")
    started = time.monotonic()
    size = download(spec, spec["job_id"], spec["path"], spec["output"])
    seconds = time.monotonic() - started
    hwm = proc_status_kb("VmHWM")
    return {
        "size": size,
        "seconds": seconds,
        "rss_before_kb": rss_before,
        "hwm_kb": hwm,
        "peak_reset": peak_reset,
        "growth_mb": (hwm - rss_before) / 1024,
    }


def create_result(sandbox: Sandbox, nbytes: int) -> tuple[str, str]:
    """A finished standard job with a result of ``nbytes``: its id and its result link's path."""
    job_id = str(
        sandbox.control(
            "POST", "/tradedesk/jobs", {"kind": "standard", "duration": 0, "result_bytes": nbytes}
        )["id"]
    )
    response = sandbox.http.get(
        f"{sandbox.url}/tradedesk/standardjob/{job_id}/status",
        headers={"TTD-Auth": TRADEDESK_TOKEN},
        timeout=30,
        verify=sandbox.verify,
    )
    response.raise_for_status()
    return job_id, str(response.json()["url"]).removeprefix(sandbox.url)


def result_size_for(folder: Path, wanted: int) -> tuple[int, str]:
    """The result size the disk allows (``wanted`` if it has ``SPACE_FACTOR`` times that free)."""
    free = shutil.disk_usage(folder).free
    if free >= SPACE_FACTOR * wanted:
        return wanted, f"{free / 1e9:.0f} GB free in {folder}: the full size"
    size = max(free // SPACE_FACTOR, 1_000_000)
    return size, f"only {free / 1e9:.1f} GB free in {folder}: reduced to {size / 1e6:.0f} MB"


def run(quick: bool = False) -> Result:
    """Measure ours and the anchor on the same result; return the table."""
    with Workdir("c") as workdir, Sandbox(tls=True) as sandbox:
        size, disk_note = result_size_for(Path(tempfile.gettempdir()), 50_000_000 if quick else SIZE)
        print(f"(c) memory: a {size / 1e6:,.0f} MB result to a file ({disk_note})", flush=True)
        env = worker_env({**workdir.airflow_env(), **sandbox.environment()})
        figures: dict[str, dict[str, Any]] = {}
        for kind in ("ours", "anchor"):
            warm_id, warm_path = create_result(sandbox, WARM_SIZE)
            job_id, path = create_result(sandbox, size)
            output = workdir.path / f"result-{kind}.json"
            spec = {
                "label": kind,
                "kind": kind,
                "job_id": job_id,
                "path": path,
                "output": str(output),
                "warm_id": warm_id,
                "warm_path": warm_path,
                "warm_output": str(workdir.path / f"warm-{kind}.json"),
            }
            figures[kind] = run_worker("benchmarks.result_memory", spec, env, workdir, timeout=900)
            figures[kind]["file_size"] = output.stat().st_size
            output.unlink()
            print(f"  {kind}: {json.dumps(figures[kind])}", flush=True)
    ours, anchor = figures["ours"], figures["anchor"]
    growth = ours["growth_mb"]
    mb = size / 1e6
    result = Result(
        key="c",
        title=f"(c) Memory: a {mb:,.0f} MB Trade Desk result downloaded to a file",
        anchor="HttpHook.run",
        rows=[
            Row(
                "peak RSS growth during the download (MB)",
                fmt(growth, 1),
                fmt(anchor["growth_mb"], 1),
                fmt(ratio(growth, anchor["growth_mb"]), 4),
                "< 64 MB (ours)",
                verdict(growth < TARGET_MB),
            ),
            Row("bytes written", f"{ours['file_size']:,}", f"{anchor['file_size']:,}"),
            Row(
                "throughput (MB/s, sandbox-bound)",
                fmt(ours["file_size"] / 1e6 / ours["seconds"], 1),
                fmt(anchor["file_size"] / 1e6 / anchor["seconds"], 1),
            ),
            Row(
                "RSS before the download (MB)",
                fmt(ours["rss_before_kb"] / 1024, 0),
                fmt(anchor["rss_before_kb"] / 1024, 0),
            ),
        ],
        notes=[
            f"Result size: {size:,} bytes asked of the sandbox (`result_bytes`; {disk_note}). Over TLS.",
            "Each side runs in a fresh interpreter that imports Airflow, downloads a 6 MB result first (so "
            "modules and connection pools are loaded), resets its peak RSS (VmHWM, via "
            "/proc/self/clear_refs) and reads VmRSS, downloads the big result, then reads VmHWM: "
            "growth = VmHWM - VmRSS before.",
            "The anchor is the HTTP provider's HttpHook.run (requests without streaming), as HttpOperator "
            "uses it; there is no streaming-to-object-storage download in the anchors of the issue.",
        ],
        raw={"ours": ours, "anchor": anchor, "size": size},
    )
    result.show()
    return result


def main() -> None:
    """Command line: the benchmark, or (``--spec``/``--out``) its worker."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 50 MB result (a smoke run)")
    parser.add_argument("--spec", help="worker: the spec file")
    parser.add_argument("--out", help="worker: where to write the figures")
    args = parser.parse_args()
    if args.spec:
        Path(args.out).write_text(json.dumps(worker(json.loads(Path(args.spec).read_text()))))
    else:
        run(args.quick)


if __name__ == "__main__":
    main()
