"""Benchmarks: what Sluice's layer costs and what it guarantees, measured in one run against
plain Temporal and a plain asyncio pipeline on the same machine.

    bash scripts/bench.sh            # default sizes (about 15 minutes on 2 cores)
    bash scripts/bench.sh --full     # the sizes the benchmark issue names
    bash scripts/bench.sh --smoke    # tiny sizes, seconds: keeps the scripts working

Every benchmark runs against the embedded dev server, the ``offline`` model provider (the
rate-limit benchmark: the Mistral wire-format stub) and the connectors' embedded defaults,
and writes ``BENCHMARKS.md`` with the figures, the machine and the command.
"""
