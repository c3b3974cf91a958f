"""Run a Sluice worker from a checkout (installed, the same is the ``sluice-worker`` command);
see ``sluice/app/worker.py`` or ``--help``."""

from sluice.app.worker import console_main

if __name__ == "__main__":
    console_main()
