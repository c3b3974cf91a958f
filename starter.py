"""Start, decide and inspect Sluice runs from the command line (from a checkout; installed,
the same is the ``sluice`` command).

python starter.py start cargo-release examples/cargo_release/anomaly.json --wait
python starter.py pending
python starter.py approve WORKFLOW_ID --reviewer alice --comment "checked"
python starter.py status WORKFLOW_ID
python starter.py audit WORKFLOW_ID --json
"""

from sluice.__main__ import main

if __name__ == "__main__":
    main()
