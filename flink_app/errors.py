"""Coded errors of the stream CLI: each is printed as ``error [code]: message``, without a traceback."""

from __future__ import annotations

from streamflow.core.errors import StateError

EXIT_USAGE = 2  # refused before the job started: fix the command, the config or the bundle
EXIT_JOB_FAILED = 3  # the job started and failed for good


class StreamCliError(Exception):
    """Base of the CLI's errors; ``code`` is stable, ``exit_code`` is the process's."""

    code = "stream_error"
    exit_code = EXIT_USAGE


class SetupError(StreamCliError):
    """Something the job needs before it starts is missing or unusable (Java, the input, the output folder)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ModelRequiredError(StreamCliError):
    """``stream.model.required`` is set and no usable bundle is there: the job must not start."""

    code = "model_required"


class JobFailedError(StreamCliError):
    """The running job failed and its restarts (``stream.restart``) are used up."""

    code = "stream_job_failed"
    exit_code = EXIT_JOB_FAILED


class ShardCountChangedError(StateError):
    """The restored customer state was spread over another ``stream.mini_batch.shards``: refused, not misread."""

    code = "state_shard_count_changed"
