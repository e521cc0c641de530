"""Training runs in MLflow, through kedro-mlflow: where they are recorded, and the champion's registration.

kedro-mlflow's hook records a run for every pipeline that trains (``conf/base/mlflow.yml``): the
parameters its nodes read and the evaluation's headline metrics (``tracked_metrics``). This
module adds three things:

- :class:`TrackingHooks` starts kedro-mlflow's hook only for a run that trains, and points MLflow
  at the project's own SQLite store (``data/10_tracking/mlflow.db``) when ``mlflow.yml`` names no
  tracking server (MLflow refuses its old file store).
- The run logs the model bundle and the evaluation report as artifacts (kedro-mlflow's
  ``MlflowArtifactDataset`` mis-versions a versioned dataset under Kedro 1.7's catalog).
- Each packaged bundle with a champion is registered in the model registry as a version of
  :data:`REGISTERED_MODEL`, its source the bundle logged by the run, tagged with the version the
  stream reports (``model_version``, ``lgbm-<12 hex>``) and its challenger's.

``python -m streamflow.tracking ui`` (``make mlflow``) serves the local store's UI on loopback.
"""

from __future__ import annotations

import argparse
import os
import subprocess  # nosec B404 - runs MLflow's own UI server, a fixed command
import sys
import tempfile
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node, Pipeline

from streamflow.core.forest import ModelBundle

LOCAL_STORE = Path("data/10_tracking/mlflow.db")
REGISTERED_MODEL = "streamflow-champion"
BUNDLE_DATASET = "model_bundle"
METRICS_DATASET = "model_metrics"
ARTIFACTS = (BUNDLE_DATASET, METRICS_DATASET)  # datasets a tracked run logs as artifacts
UI_HOST, UI_PORT = "127.0.0.1", 5000


def local_tracking_uri(project_path: Path) -> str:
    """The project's local MLflow store (SQLite), as a tracking URI."""
    return f"sqlite:///{(project_path / LOCAL_STORE).as_posix()}"


class TrackingHooks:
    """kedro-mlflow's hook, started only for a run that trains; its artifacts; the champion's registration.

    kedro-mlflow's own hook (disabled as a plugin in ``settings.py``) would connect to the tracking
    store when every session starts, whatever it runs: the medallion CronJob would then depend on
    the tracking server. This one starts it at ``before_pipeline_run``, only for pipelines
    ``mlflow.yml`` does not list under ``disable_tracking``, and forwards it the run's hooks.
    """

    def __init__(self) -> None:
        self._context: KedroContext | None = None
        self._catalog_created: dict[str, Any] = {}
        self._mlflow: Any = None  # kedro-mlflow's MlflowHook, for a tracked run

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Keep the context: the run's pipeline says later whether it is tracked.

        A run the previous session started and never ended (refused after it started) ends as
        killed, so that this session's run is not logged into it.
        """
        if self._mlflow is not None:
            import mlflow

            mlflow.end_run("KILLED")
        self._context, self._mlflow = context, None

    @hook_impl
    def after_catalog_created(
        self,
        catalog: Any,
        conf_catalog: dict[str, Any],
        conf_creds: dict[str, Any],
        parameters: dict[str, Any],
        save_version: str,
        load_versions: dict[str, str],
    ) -> None:
        """Keep what kedro-mlflow's hook reads of the catalog, for a tracked run."""
        self._catalog_created = {
            "catalog": catalog,
            "conf_catalog": conf_catalog,
            "conf_creds": conf_creds,
            "parameters": parameters,
            "save_version": save_version,
            "load_versions": load_versions,
        }

    @hook_impl(trylast=True)  # after the other hooks' checks, which may refuse the run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any) -> None:
        """Start kedro-mlflow's hook (and its MLflow run) unless every pipeline of this run is untracked."""
        context = self._context
        if context is None:
            return
        settings = _mlflow_settings(context)
        names = run_params.get("pipeline_names") or ["__default__"]
        if set(names) <= set(settings.get("tracking", {}).get("disable_tracking", {}).get("pipelines", [])):
            _silence_mlflow_datasets(pipeline, catalog)
            return
        if settings.get("server", {}).get("mlflow_tracking_uri") is None:
            (context.project_path / LOCAL_STORE).parent.mkdir(parents=True, exist_ok=True)
            os.environ["MLFLOW_TRACKING_URI"] = local_tracking_uri(context.project_path)
        from kedro_mlflow.framework.hooks import MlflowHook

        hook = MlflowHook()
        hook.after_context_created(context)
        hook.after_catalog_created(**self._catalog_created)
        hook.before_pipeline_run(run_params, pipeline, catalog)
        self._mlflow = hook

    @hook_impl
    def before_node_run(self, node: Node, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        """kedro-mlflow logs the parameters the node reads."""
        if self._mlflow is not None:
            self._mlflow.before_node_run(node, catalog, inputs, is_async)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """In a tracked run: log the bundle (and register its champion) and the evaluation report as artifacts."""
        if self._mlflow is None or dataset_name not in ARTIFACTS:
            return
        import mlflow

        if dataset_name == METRICS_DATASET:
            mlflow.log_dict(data, f"{METRICS_DATASET}.json")
            return
        with tempfile.TemporaryDirectory() as folder:
            data.save(Path(folder))  # the bundle's own files, as the catalog wrote them
            mlflow.log_artifacts(folder, BUNDLE_DATASET)
        run = mlflow.active_run()
        if data.manifest.champion is not None and run is not None:
            register_champion(data, run.info.run_id)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any) -> None:
        """kedro-mlflow ends the run."""
        if self._mlflow is not None:
            self._mlflow.after_pipeline_run(run_params, pipeline, catalog)
            self._mlflow = None

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any) -> None:
        """kedro-mlflow ends the run as failed."""
        if self._mlflow is not None:
            self._mlflow.on_pipeline_error(error, run_params, pipeline, catalog)
            self._mlflow = None


def _silence_mlflow_datasets(pipeline: Pipeline, catalog: Any) -> None:
    """Turn off the logging of kedro-mlflow's datasets a run without MLflow writes (they would need a run)."""
    for name in pipeline.all_outputs():
        dataset = catalog.get(name)
        if type(dataset).__name__.startswith("Mlflow"):
            dataset._logging_activated = False


def _mlflow_settings(context: KedroContext) -> dict[str, Any]:
    """``mlflow.yml`` of the run's environment (empty without one)."""
    patterns = getattr(context.config_loader, "config_patterns", {})  # OmegaConfigLoader's
    if "mlflow" not in patterns:
        patterns["mlflow"] = ["mlflow*", "mlflow*/**", "**/mlflow*"]
    try:
        return dict(context.config_loader["mlflow"])
    except MissingConfigException:
        return {}


def register_champion(bundle: ModelBundle, run_id: str) -> None:
    """A version of ``streamflow-champion``: its source the run's logged bundle, tagged with the stream's versions."""
    import mlflow

    champion = bundle.manifest.champion
    if champion is None:
        raise ValueError(f"model {bundle.manifest.model_version} has no champion to register")
    client = mlflow.MlflowClient()
    if not client.search_registered_models(filter_string=f"name = '{REGISTERED_MODEL}'"):
        client.create_registered_model(REGISTERED_MODEL, description="The stream's champion: model bundles")
    client.create_model_version(
        REGISTERED_MODEL,
        source=mlflow.get_artifact_uri(BUNDLE_DATASET),
        run_id=run_id,
        tags={"model_version": champion.model_version, "challenger_version": bundle.manifest.model_version},
    )


def ui_command(project_path: Path, port: int = UI_PORT) -> list[str]:
    """MLflow's UI server over the project's local store, on loopback."""
    mlflow = Path(sys.executable).parent / "mlflow"
    store = local_tracking_uri(project_path)
    return [str(mlflow), "ui", "--backend-store-uri", store, "--host", UI_HOST, "--port", str(port)]


def ui_environment() -> dict[str, str]:
    """The UI server's environment: without MLflow's background jobs (GenAI scorers), which this UI never runs.

    Their queue would live in a folder the server makes in ``/dev/shm`` and leaves behind when stopped.
    """
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def main(argv: list[str] | None = None) -> int:
    """``ui``: serve the local store's UI on 127.0.0.1 until stopped."""
    parser = argparse.ArgumentParser(prog="python -m streamflow.tracking", description=main.__doc__)
    parser.add_argument("command", choices=("ui",))
    parser.add_argument("--port", type=int, default=UI_PORT)
    args = parser.parse_args(argv)
    project = Path.cwd()
    if not (project / LOCAL_STORE).is_file():
        print(f"No runs yet in {LOCAL_STORE}: train first (make train, or kedro run)", file=sys.stderr)
        return 1
    print(f"MLflow UI on http://{UI_HOST}:{args.port} (Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call(ui_command(project, args.port), env=ui_environment())  # nosec B603 - fixed command
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
