"""Start, decide and inspect Sluice runs from the command line.

python starter.py start cargo-release examples/cargo_release/anomaly.json --wait
python starter.py pending
python starter.py approve WORKFLOW_ID --reviewer alice --comment "checked"
python starter.py status WORKFLOW_ID
python starter.py audit WORKFLOW_ID --json
"""

import os
import sys

from sluice.app.cli import main

if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the SDK's native runtime threads can crash while Python
    # finalises after an answered request, turning a clean exit code into a segfault.
    os._exit(code)
