"""Tag a batch of Wistia media, trim the intro off one of them, then report what each job did.

Tags ``count`` media (250 by default: three Wistia jobs of at most 100) and cuts the first seconds off
``trim_media`` at the same time; both wait in the triggerer. The ``report`` task reads the rows the
operators return, one per background job, and runs whatever happened upstream (``all_done``), so a
failed job's media are still listed. ``make demo`` runs it against the local sandbox, with no Wistia
account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_jobstatus.operators.wistia import WistiaBulkTagOperator, WistiaTrimMediaOperator

with DAG(
    dag_id="wistia_tag_and_trim",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "count": Param(250, type="integer", minimum=1, description="how many media to tag"),
        "tag": Param("reviewed", type="string", description="the tag to add"),
        "trim_media": Param("intro0001", type="string", description="hashed id of the media to trim"),
        "intro_end": Param("00:00:05.000", type="string", description="where the intro ends"),
    },
    render_template_as_native_obj=True,
    tags=["jobstatus", "wistia"],
):

    @task
    def list_media(params: dict[str, Any]) -> list[str]:
        """The media to tag. A real DAG would list them with the Wistia API or read them from a table."""
        return [f"media{number:05d}" for number in range(params["count"])]

    tag_media = WistiaBulkTagOperator(
        task_id="tag_media",
        hashed_ids=list_media(),
        tag_names=["{{ params.tag }}"],
        wistia_conn_id="wistia_default",
        poll_interval=2,
    )

    trim_intro = WistiaTrimMediaOperator(
        task_id="trim_intro",
        hashed_id="{{ params.trim_media }}",
        trims=["00:00:00.000-{{ params.intro_end }}"],
        wistia_conn_id="wistia_default",
        poll_interval=2,
    )

    @task(trigger_rule="all_done")
    def report(tagged: list[dict[str, Any]] | None, trimmed: list[dict[str, Any]] | None) -> dict[str, int]:
        """One line per background job, and the counts of media each outcome covered."""
        counts = {"jobs": 0, "media_done": 0, "media_failed": 0}
        for row in (tagged or []) + (trimmed or []):
            counts["jobs"] += 1
            outcome = "media_done" if row["success"] else "media_failed"
            counts[outcome] += len(row["hashed_ids"])
            media = len(row["hashed_ids"])
            print(f"job {row['job_id']} {row['status']}: {media} media; {row['message'] or ''}")
            for error in row["partial_errors"]:
                print(f"  media {error['media_id']} was refused: {error['error']}")
        return counts

    report(tag_media.output, trim_intro.output)
