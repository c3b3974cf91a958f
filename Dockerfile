# The Sluice worker image: `python worker.py` against the Temporal cluster in TEMPORAL_ADDRESS.
# The same image runs the CLI (`python starter.py`) and the codec server
# (`python -m sluice.codec_server`); see docker-compose.yml. Everything is installed at build
# time: nothing is fetched at run time. No key, token or API key is baked in: they come from
# the environment.

# Build the project and every runtime dependency as wheels: no dev extras; the S3 payload
# store's client, so SLUICE_PAYLOAD_STORE=s3 works in the image. Not the [dev-server] extra:
# the image talks to a cluster and does without the 156 MB temporal binary.
FROM python:3.11.13-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE sluice.toml ./
COPY examples examples
COPY sluice sluice
COPY workflows workflows
COPY activities activities
RUN pip wheel --wheel-dir /wheels ".[s3]"

FROM python:3.11.13-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    SLUICE_DATA_DIR=/var/lib/sluice \
    SLUICE_LOG_FORMAT=json
RUN groupadd --system --gid 10001 sluice \
    && useradd --system --uid 10001 --gid sluice --home-dir /app --shell /usr/sbin/nologin sluice
# The wheels are mounted for the install only: they add no layer to the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "sluice-workflows[s3]"
WORKDIR /app
# The sample configuration and inputs: mount another sluice.toml (SLUICE_CONFIG) to change it.
COPY sluice.toml worker.py starter.py ./
COPY examples examples
# The embedded systems of record, the local payload store and, without SLUICE_CODEC_KEYS,
# the key ring live here: a volume shared by every worker.
RUN mkdir -p /var/lib/sluice && chown sluice:sluice /var/lib/sluice
USER sluice
ENTRYPOINT ["python", "worker.py"]
