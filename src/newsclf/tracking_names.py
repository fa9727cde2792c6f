"""The experiment trackers newsclf can log to, and the package each needs.

Kept apart from the tracking code (`newsclf.training.tracking`) so that the config can check a
`--report-to` value without importing any tracker.
"""

from __future__ import annotations

from newsclf.errors import ConfigError

# --report-to name -> the package that must be installed for it.
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
NONE = "none"


def check_tracker_names(report_to: list[str] | None) -> None:
    """Refuse an unknown tracker name, naming the known ones."""
    unknown = [n for n in report_to or [] if n not in TRACKER_PACKAGES and n != NONE]
    if unknown:
        raise ConfigError(
            f"report_to={report_to!r}: unknown tracker(s) {unknown}; expected any of "
            f"{', '.join(TRACKER_PACKAGES)} (comma-separated), or none."
        )


def trackers(report_to: list[str] | None) -> list[str]:
    """The trackers asked for, in order, 'none' dropped."""
    return [n for n in dict.fromkeys(report_to or []) if n != NONE]
