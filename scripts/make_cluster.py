"""`make cluster`: a production-like Airflow (PostgreSQL, Redis, the CeleryExecutor, two Celery workers, two
triggerers, the scheduler, the dag-processor and the api-server) with the sandbox, the example DAGs and
their connections, until Ctrl-C.

The deployment is :class:`Cluster` of ``scripts/cluster.py`` (tests/cluster starts the same one); this file
is only its command line. It prints the UI address, the login and where everything lives; Ctrl-C (or
SIGTERM) stops everything and removes the temporary directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_airflow import ROOT, sandbox_connections
from serve import add_sandbox_options, load_script, serve

if TYPE_CHECKING:
    from airflow_jobstatus.sandbox import SandboxServer

launcher = load_script("cluster")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="scripts/make_cluster.py", description=__doc__.split("\n\n")[0])
    add_sandbox_options(parser)
    parser.add_argument("--workers", type=int, default=2, help="Celery workers")
    parser.add_argument("--triggerers", type=int, default=2, help="triggerers")
    parser.add_argument(
        "--pinned-queues",
        default=launcher.PINNED_QUEUE,
        help="comma-separated queues only triggerer-1 and worker-1 take ('' disables triggerer queues)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox and the cluster until Ctrl-C or SIGTERM."""
    args = parse_args(argv)
    missing = launcher.missing_services()
    if missing:
        print(f"missing: {', '.join(missing)}; run `bash scripts/install_services.sh`", file=sys.stderr)
        return 2

    def deploy(sandbox: SandboxServer) -> tuple[launcher.Cluster, str]:
        cluster = launcher.Cluster(
            dags_folders=[ROOT / "example_dags"],
            connections=sandbox_connections(sandbox.url, sandbox.state),
            workers=args.workers,
            triggerers=args.triggerers,
            pinned_queues=[queue for queue in args.pinned_queues.split(",") if queue],
            api_port=args.port,
            store_connections=True,
        )
        return cluster, f"starting the cluster in {cluster.tmp}"

    def banner(cluster: launcher.Cluster, sandbox: SandboxServer) -> str:
        return BANNER.format(cluster=cluster, sandbox=sandbox.url, topology=topology(cluster))

    return serve(args, deploy, banner)  # type: ignore[arg-type]


def topology(cluster: launcher.Cluster) -> str:
    """One line per triggerer and worker: its command and the queues it takes."""
    lines = []
    for name in [*cluster.triggerer_names, *cluster.worker_names]:
        args = cluster.airflow.commands[name]
        queues = args[args.index("--queues") + 1] if "--queues" in args else "(triggers without a queue)"
        lines.append(
            f"  {name}: airflow {' '.join(args[:2] if args[0] == 'celery' else args[:1])}, queues {queues}"
        )
    return "\n".join(lines)


BANNER = """
The cluster is ready: {cluster.url}
  login: admin / {cluster.password}
  metadata DB: psql "{cluster.psql_url}"
  Redis: {cluster.redis_url} (the Celery broker)
         {cluster.rate_limit_storage_url} ([jobstatus] rate_limit_storage)
{topology}
  DAGs: example_dags/; connections zendesk_default, wistia_default, tradedesk_default point at the
        sandbox on {sandbox}
  component logs: {cluster.airflow.component_logs}/; servers' logs: {cluster.services_dir}/*.log
  everything lives in {cluster.tmp} (removed on stop)
Ctrl-C stops everything.
"""


if __name__ == "__main__":
    sys.exit(main())
