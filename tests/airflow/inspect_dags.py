"""Run in a subprocess with Airflow's environment set: parse a DAG folder, print what tests check.

Usage: python inspect_dags.py DAGS_FOLDER. Prints one JSON object: import errors, and per DAG
its schedule, run settings, tasks with their upstream ids and task settings, and what the
failure callback logs for a sample failed try.
"""

from __future__ import annotations

import json
import logging
import sys
from types import SimpleNamespace
from typing import Any

from airflow.dag_processing.dagbag import DagBag


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def describe(dag: Any, captured: Captured) -> dict[str, Any]:
    first = dag.tasks[0]
    callback = dag.default_args["on_failure_callback"]
    captured.messages.clear()
    callback(
        {
            "task_instance": SimpleNamespace(
                dag_id=dag.dag_id, run_id="manual__probe", task_id=first.task_id, try_number=2
            ),
            "exception": RuntimeError("probe failure"),
        }
    )
    return {
        "schedule": str(dag.schedule),
        "max_active_runs": dag.max_active_runs,
        "catchup": dag.catchup,
        "tasks": {task.task_id: sorted(task.upstream_task_ids) for task in dag.tasks},
        "pools": sorted({task.pool for task in dag.tasks}),
        "retries": sorted({task.retries for task in dag.tasks}),
        "backoff": sorted({float(task.retry_exponential_backoff) for task in dag.tasks}),
        "max_retry_delay_s": sorted({task.max_retry_delay.total_seconds() for task in dag.tasks}),
        "failure_log": list(captured.messages),
    }


def main(dags_folder: str) -> None:
    captured = Captured()
    logging.getLogger().addHandler(captured)
    bag = DagBag(dag_folder=dags_folder, known_pools={"streamflow"})
    dags = {dag_id: describe(dag, captured) for dag_id, dag in sorted(bag.dags.items())}
    print(json.dumps({"import_errors": bag.import_errors, "dags": dags}))


if __name__ == "__main__":
    main(sys.argv[1])
