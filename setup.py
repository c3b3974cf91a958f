"""Everything else is in pyproject.toml. This only puts the sample inputs and the sample
configuration into the package (``sluice/examples``), so an installed Sluice has them
(``sluice init``, ``sluice-worker --dev --examples``); a checkout reads them in place."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithExamples(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "sluice" / "examples"
        self.copy_tree("examples", str(target))
        self.copy_file("sluice.toml", str(target / "sluice.toml"))


setup(cmdclass={"build_py": BuildWithExamples})
