"""``train``: the loop on whatever is landed (a team's own history and outcomes), never generating."""

from streamflow.pipelines.train.pipeline import create_pipeline

__all__ = ["create_pipeline"]
