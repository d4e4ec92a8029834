"""(b) Vendor calls: 100 Zendesk jobs awaited by 100 separate waits (one ``JobTrigger`` each, as 100
sensors deferred into one triggerer), 1 s poll interval, jobs of 15-20 s: how many HTTP calls the vendor
sees, ours vs one poll per job (measured: 100 ``HttpSensorTrigger`` s, one per job, same interval).

Ours runs with its defaults (cadence, coalescing, the connection's default rate budget): what a user gets.

``python -m benchmarks.vendor_calls [--quick]``
"""

from __future__ import annotations

from benchmarks.common import Result, Row, Sandbox, Workdir, command_line, fmt, ratio, verdict
from benchmarks.wait_runs import run_waits, schedule

WAITS = 100
POLL_INTERVAL = 1.0
DURATIONS = (15.0, 20.0)
TARGET = 1 / 50

NOTES = [
    "Calls = every request the sandbox logged during the run (status reads; its control routes are never "
    "logged). Ours reads through JobTrigger's public constructor and run() only, with the default "
    "cadence and the connection's default rate budget.",
    "The anchor is measured, not computed: 100 HttpSensorTrigger (poke_interval 1 s) on the sandbox's done "
    "probe, one per job, in one event loop: what 100 independent pollers cost the vendor.",
    "Both sides wait on the same schedule of jobs (seeded durations and start delays), over TLS.",
]


def run(quick: bool = False) -> Result:
    """Run ours and the anchor; return the table."""
    count, durations = (20, (4.0, 6.0)) if quick else (WAITS, DURATIONS)
    jobs = schedule(count, durations, stagger=POLL_INTERVAL, seed=50)
    print(
        f"(b) vendor calls: {count} waits, {POLL_INTERVAL:g} s poll interval, jobs of {durations} s",
        flush=True,
    )
    with Workdir("b") as workdir, Sandbox(tls=True) as sandbox:
        ours = run_waits(sandbox, workdir, "ours", "ours", jobs, POLL_INTERVAL)
        anchor = run_waits(sandbox, workdir, "anchor", "anchor", jobs, POLL_INTERVAL)
    calls = ratio(ours.requests, anchor.requests)
    ours_latency = [w["event_at"] - w["ends_at"] for w in ours.waits_detail]
    anchor_latency = [w["event_at"] - w["ends_at"] for w in anchor.waits_detail]
    result = Result(
        key="b",
        anchor="HttpSensorTrigger",
        title=f"(b) Vendor calls: {count} jobs awaited by {count} separate waits in one triggerer",
        rows=[
            Row(
                "HTTP calls to the vendor",
                f"{ours.requests:,}",
                f"{anchor.requests:,}",
                fmt(calls, 4),
                "<= 0.0200",
                verdict(calls <= TARGET),
            ),
            Row(
                "job status reads",
                f"{ours.job_reads:,}",
                f"{anchor.job_reads:,}",
                fmt(ratio(ours.job_reads, anchor.job_reads), 3),
            ),
            Row(
                "waits ended by their job's success",
                f"{ours.succeeded}/{ours.waits}",
                f"{anchor.succeeded}/{anchor.waits}",
            ),
            Row(
                "mean time from job end to event (s)",
                fmt(sum(ours_latency) / len(ours_latency), 2),
                fmt(sum(anchor_latency) / len(anchor_latency), 2),
            ),
            Row(
                "process CPU, whole run (s)",
                fmt(ours.cpu_s, 2),
                fmt(anchor.cpu_s, 2),
                fmt(ratio(ours.cpu_s, anchor.cpu_s), 3),
            ),
        ],
        notes=NOTES,
        raw={"ours": ours.summary(), "anchor": anchor.summary()},
    )
    result.show()
    return result


def main() -> None:
    """Command line."""
    command_line(run, __doc__, "a few waits, short jobs (a smoke run)")


if __name__ == "__main__":
    main()
