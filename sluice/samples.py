"""The sample inputs and the starter configuration, wherever Sluice runs from.

In a checkout they are ``examples/`` and ``sluice.toml`` beside the packages; an installed
package carries copies of both under ``sluice/examples`` (``setup.py`` puts them there).
``sluice init`` writes the starter configuration, with the sample reviewers, and the sample
intake documents into a folder, so ``sluice-worker --dev --examples`` runs from there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PACKAGED = Path(__file__).resolve().parent / "examples"
CHECKOUT = Path(__file__).resolve().parent.parent

STARTER_CONFIG = "sluice.toml"
# Where the sample configuration keeps the KYC documents its sample runs name, and where
# ``init`` puts them: a folder of the operator's own, next to the configuration.
SAMPLE_INTAKE = 'intake_dir = "examples/kyc_review/intake"'
INIT_INTAKE = 'intake_dir = "intake"'


class InitRefused(Exception):
    """``init`` would overwrite something that is already there."""


def examples_folder() -> Path:
    """The sample inputs, one folder per process (``examples/<process>/*.json``)."""
    return PACKAGED if PACKAGED.is_dir() else CHECKOUT / "examples"


def starter_config() -> Path:
    """The sample configuration: approval policies with the sample reviewers, limits, the
    support ladder, commented examples of everything else."""
    packaged = PACKAGED / STARTER_CONFIG
    return packaged if packaged.is_file() else CHECKOUT / STARTER_CONFIG


def init(folder: Path) -> list[Path]:
    """Write the starter configuration and the sample intake documents into ``folder``;
    return what was written. Nothing is overwritten: an existing file refuses the lot."""
    config = folder / STARTER_CONFIG
    intake = folder / "intake"
    documents = sorted((examples_folder() / "kyc_review" / "intake").glob("*"))
    taken = [path for path in (config, *(intake / d.name for d in documents)) if path.exists()]
    if taken:
        raise InitRefused(f"{taken[0]} is already there; nothing was written")
    text = starter_config().read_text(encoding="utf-8")
    if SAMPLE_INTAKE not in text:  # the sample configuration and this function disagree
        raise InitRefused(f"{starter_config()} has no sample intake folder to point elsewhere")
    intake.mkdir(parents=True, exist_ok=True)
    written = []
    for document in documents:
        shutil.copyfile(document, intake / document.name)
        written.append(intake / document.name)
    config.write_text(text.replace(SAMPLE_INTAKE, INIT_INTAKE), encoding="utf-8")
    return [config, *written]
