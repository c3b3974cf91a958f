"""Worker versioning: which build a worker runs, told to Temporal from configuration.

With ``SLUICE_BUILD_ID`` set, every workflow task a worker completes records its deployment
version (``<deployment_name>.<build_id>``) in the run's history, so an operator can see which
build made each step. With ``SLUICE_WORKER_VERSIONING=1`` the server also routes tasks by
version: a worker takes runs only once its build is the deployment's current one
(``temporal worker deployment set-current-version``), and runs move to each new current build
at their next task ("auto-upgrade"). Auto-upgrade, not pinning, because a run can wait days
for a reviewer: pinned, it would keep its old build's workers running all that time. A
workflow change that would replay differently still needs a guarded change
(``BusinessProcess.patched``).

Without a build id the worker is unversioned, as in development and tests.
"""

from __future__ import annotations

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from sluice.config import ConfigError, TemporalSettings


def worker_deployment(settings: TemporalSettings) -> WorkerDeploymentConfig | None:
    """The deployment config for this worker's ``Worker``s, or None when unversioned."""
    if not settings.build_id:
        if settings.worker_versioning:
            raise ConfigError(
                "SLUICE_WORKER_VERSIONING needs the build to route to: set SLUICE_BUILD_ID"
            )
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(settings.deployment_name, settings.build_id),
        use_worker_versioning=settings.worker_versioning,
        default_versioning_behavior=(
            VersioningBehavior.AUTO_UPGRADE
            if settings.worker_versioning
            else VersioningBehavior.UNSPECIFIED
        ),
    )
