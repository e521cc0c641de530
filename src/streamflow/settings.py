"""Project settings: Kedro's OmegaConfigLoader with ``base`` committed and ``local`` for secrets.

``conf/prod`` holds production overrides; select it with ``kedro run --env prod``.
"""

from kedro.config import OmegaConfigLoader

from streamflow.hooks import RunSummaryHooks

HOOKS = (RunSummaryHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
