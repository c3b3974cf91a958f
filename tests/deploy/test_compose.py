"""The production stack, checked without Docker (these machines have no Docker engine):
``docker-compose.yml``, the ``Dockerfile``, ``.env.example`` and ``.dockerignore`` are read as
files and held to what the README promises. What only a running stack can show (images that
pull, a server that starts, the UI decrypting through the codec server) is not proven here:
the README says so."""

from __future__ import annotations

import importlib.util
import re
import shlex
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sluice import search_attributes
from sluice.app.runner import ServeOptions
from sluice.config import _ENVIRONMENT, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()

SECRETS = ("MISTRAL_API_KEY", "SLUICE_CODEC_KEYS", "SLUICE_CODEC_TOKEN")
# Only the codec server holds its token and listens: the workers never need them.
CODEC_SERVER_ONLY = {"SLUICE_CODEC_TOKEN", "SLUICE_CODEC_PORT", "SLUICE_CODEC_UI_ORIGINS"}
# Only the inbox listens for people and signs them in.
INBOX_ONLY = {
    "SLUICE_INBOX_HOST",
    "SLUICE_INBOX_PORT",
    "SLUICE_OIDC_ISSUER",
    "SLUICE_OIDC_CLIENT_ID",
    "SLUICE_OIDC_CLIENT_SECRET",
}
PUBLISHED = {
    "temporal": 7233,
    "temporal-ui": 8080,
    "codec-server": 8081,
    "inbox": 8234,
    "jaeger": 16686,
    "otel-collector": 8889,
}
ONE_SHOT = {"temporal-schema", "temporal-setup"}
SOURCES = [ROOT / "worker.py", ROOT / "starter.py"] + [
    path
    for package in ("sluice", "workflows", "activities")
    for path in (ROOT / package).rglob("*.py")
]


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``, with ``env`` as
    the ``.env`` file. A required variable that is missing raises, as compose does."""

    def one(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        given = env.get(name, "")
        if operator == ":?" and not given:
            raise LookupError(f"{name}: {rest}")
        return given or (rest if operator == ":-" else "")

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, value)


def environment(service: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment as its container gets it, with ``env`` as the ``.env`` file."""
    declared = SERVICES[service].get("environment") or {}
    assert isinstance(declared, dict), f"{service}: environment must be a mapping"
    return {name: interpolate(str(value), env or {}) for name, value in declared.items()}


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def variables_the_application_reads() -> set[str]:
    """Every variable in the configuration table, and every one read directly anywhere."""
    names = {name for name, _ in _ENVIRONMENT}
    direct = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']""")
    for path in SOURCES:
        names.update(direct.findall(path.read_text()))
    return names


def published_ports(service: str) -> list[int]:
    return [int(str(port).split(":")[-2]) for port in SERVICES[service].get("ports", [])]


def readme_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Run on a Temporal cluster")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end > 0 else None]


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def dockerfile_final_stage() -> str:
    return DOCKERFILE.rsplit("\nFROM ", 1)[-1]


def test_every_service_the_readme_names_exists_and_every_service_is_in_the_readme() -> None:
    table = re.findall(r"^\| `([a-z-]+)` \|", readme_section(), flags=re.MULTILINE)
    assert table, "the README's service table is missing"
    assert set(table) == set(SERVICES)
    for command in re.findall(r"docker compose [^\n`]*", readme_section()):
        for word in shlex.split(command.split("#")[0]):
            if word in ("worker", "starter", "codec-server") or word.startswith("worker="):
                assert word.split("=")[0] in SERVICES, command


def test_every_variable_the_application_reads_reaches_the_workers() -> None:
    secrets = {name: "set" for name in SECRETS}
    worker = environment("worker", secrets)
    codec_server = environment("codec-server", secrets)
    missing = variables_the_application_reads() - CODEC_SERVER_ONLY - INBOX_ONLY - set(worker)
    assert not missing, f"not passed to the worker (add them to docker-compose.yml): {missing}"
    assert CODEC_SERVER_ONLY <= set(codec_server)
    assert INBOX_ONLY <= set(environment("inbox", secrets))
    assert not INBOX_ONLY & set(worker), "the workers never sign people in"
    assert not CODEC_SERVER_ONLY & set(worker), "the workers never need the codec server's token"
    # The values as given load into valid settings, with the stack's own addresses.
    settings = load_settings(ROOT / "sluice.toml", environ=worker)
    assert settings.temporal.address == "temporal:7233"
    assert settings.log_format == "json"
    assert settings.codec.keys == "set"
    assert settings.model.limits.workers == COMPOSE_WORKERS
    assert str(settings.data_dir) in [
        volume.split(":")[1] for volume in SERVICES["worker"]["volumes"]
    ]


COMPOSE_WORKERS = int(interpolate(str(SERVICES["worker"]["deploy"]["replicas"]), {}))


def test_token_split_follows_the_number_of_workers_started() -> None:
    for count in ("1", "5"):
        replicas = interpolate(
            str(SERVICES["worker"]["deploy"]["replicas"]), {"SLUICE_WORKERS": count}
        )
        split = environment("worker", {"SLUICE_WORKERS": count, **dict.fromkeys(SECRETS, "x")})
        assert replicas == split["SLUICE_MODEL_WORKERS"] == count


def test_secrets_come_only_from_the_uncommitted_env_file() -> None:
    example = env_example()
    for name in SECRETS:
        assert example.get(name) == "", f".env.example must list {name}, empty"
    text = (ROOT / "docker-compose.yml").read_text()
    for name in SECRETS:
        for value in re.findall(rf"^\s*{name}:\s*(.+)$", text, flags=re.MULTILINE):
            assert value.startswith("${" + name), f"{name} must come from .env, not {value}"
    # The encryption key and the codec token have no default: compose refuses to start.
    with pytest.raises(LookupError, match="SLUICE_CODEC_KEYS"):
        environment("worker", {"SLUICE_CODEC_TOKEN": "t"})
    with pytest.raises(LookupError, match="SLUICE_CODEC_TOKEN"):
        environment("codec-server", {"SLUICE_CODEC_KEYS": "k"})
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in dockerignore()
    assert "ENV SLUICE_CODEC" not in DOCKERFILE and "MISTRAL_API_KEY" not in DOCKERFILE


def test_ports_are_published_once_and_workers_publish_none() -> None:
    published = {service: published_ports(service) for service in SERVICES}
    assert {service: ports[0] for service, ports in published.items() if ports} == PUBLISHED
    every_port = [port for ports in published.values() for port in ports]
    assert len(every_port) == len(set(every_port))
    # A fixed host port or container name would stop `--scale worker=N` at the second copy.
    assert "ports" not in SERVICES["worker"] and "container_name" not in SERVICES["worker"]
    assert not any("container_name" in service for service in SERVICES.values())


def test_start_up_waits_for_health_and_for_the_setup_jobs() -> None:
    for name, service in SERVICES.items():
        for needed, condition in (service.get("depends_on") or {}).items():
            assert needed in SERVICES, f"{name} depends on unknown {needed}"
            kind = condition["condition"]
            if kind == "service_healthy":
                assert "healthcheck" in SERVICES[needed], f"{needed} has no healthcheck"
            elif kind == "service_completed_successfully":
                assert needed in ONE_SHOT
    chain = [
        ("temporal-schema", "postgresql", "service_healthy"),
        ("temporal", "temporal-schema", "service_completed_successfully"),
        ("temporal-setup", "temporal", "service_healthy"),
        ("worker", "temporal-setup", "service_completed_successfully"),
        ("starter", "temporal-setup", "service_completed_successfully"),
        ("temporal-ui", "temporal", "service_healthy"),
    ]
    for service, needed, condition in chain:
        assert SERVICES[service]["depends_on"][needed]["condition"] == condition
    for one_shot in ONE_SHOT:
        assert str(SERVICES[one_shot].get("restart", "no")).startswith(("no", "on-failure"))
    # Health of everything a person opens or a worker needs: database, server, codec server.
    for service in ("postgresql", "temporal", "codec-server"):
        assert SERVICES[service]["healthcheck"]["test"]
    probe = SERVICES["codec-server"]["healthcheck"]["test"]
    assert f"127.0.0.1:{PUBLISHED['codec-server']}/health" in " ".join(probe)


def test_the_worker_runs_the_real_entry_point_and_the_cli_runs_one_off() -> None:
    final = dockerfile_final_stage()
    assert 'ENTRYPOINT ["python", "worker.py"]' in final
    assert "entrypoint" not in SERVICES["worker"] and "command" not in SERVICES["worker"]
    assert SERVICES["starter"]["entrypoint"] == ["python", "starter.py"]
    assert SERVICES["starter"]["profiles"] == ["cli"]  # not started by `docker compose up`
    assert SERVICES["codec-server"]["entrypoint"] == ["python", "-m", "sluice.codec_server"]
    assert importlib.util.find_spec("sluice.codec_server") is not None
    copied = " ".join(re.findall(r"^COPY (?!--from)(.+)$", final, flags=re.MULTILINE))
    for needed in ("worker.py", "starter.py", "sluice.toml", "examples"):
        assert needed in copied and (ROOT / needed).exists()
    ignored = dockerignore()
    for needed in ("worker.py", "starter.py", "sluice.toml", "examples", "README.md", "sluice"):
        assert needed not in ignored
    # The README's one-off example names a file the image has.
    example = re.search(r"run --rm starter start cargo-release (\S+)", readme_section())
    assert example and (ROOT / example.group(1)).is_file()


def test_the_image_is_slim_pinned_non_root_and_without_dev_dependencies() -> None:
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert bases and all(re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", base) for base in bases)
    final = dockerfile_final_stage()
    user = re.findall(r"^USER (\S+)", final, flags=re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    installs = re.findall(r"pip (?:install|wheel)[^\n]*", DOCKERFILE)
    assert installs and not any("dev" in line or "-e " in line for line in installs)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra in re.findall(r"\[(\w+)\]", " ".join(installs)):
        assert extra in extras["optional-dependencies"] and extra != "dev"


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in SERVICES.items():
        image = service.get("image", "")
        if "build" in service:
            assert image.startswith("sluice:"), name  # ours, tagged with the build id
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(r"\d+(\.\d+)+", tag), f"{name}: {image} not pinned"


def test_stopping_a_worker_leaves_time_for_its_graceful_shutdown() -> None:
    grace = SERVICES["worker"]["stop_grace_period"]
    seconds = timedelta(seconds=int(re.fullmatch(r"(\d+)s", grace).group(1)))  # type: ignore[union-attr]
    # The process worker, then its model worker, each get the graceful period; then spans flush.
    assert seconds >= 2 * ServeOptions().graceful_shutdown + timedelta(seconds=10)
    assert SERVICES["worker"].get("init") is True  # signals reach python, zombies are reaped


def test_the_ui_decrypts_through_the_codec_server() -> None:
    ui = environment("temporal-ui")
    endpoint = urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"])
    assert endpoint.hostname == "localhost" and endpoint.port == PUBLISHED["codec-server"]
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    codec_server = environment("codec-server", dict.fromkeys(SECRETS, "x"))
    settings = load_settings(ROOT / "sluice.toml", environ=codec_server)
    assert f"http://localhost:{PUBLISHED['temporal-ui']}" in settings.codec.ui_origins
    assert settings.codec.server_port == PUBLISHED["codec-server"]


def test_traces_go_from_the_workers_through_the_collector_to_jaeger() -> None:
    endpoint = urlsplit(
        environment("worker", dict.fromkeys(SECRETS, "x"))["OTEL_EXPORTER_OTLP_ENDPOINT"]
    )
    assert endpoint.hostname == "otel-collector"
    collector = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http.endswith(f":{endpoint.port}")
    traces = collector["service"]["pipelines"]["traces"]
    jaeger = collector["exporters"][traces["exporters"][0]]["endpoint"]
    assert jaeger.split(":")[0] in SERVICES
    assert "metrics" in collector["service"]["pipelines"]  # workers also send metrics


def test_the_setup_job_creates_every_search_attribute_the_runs_use() -> None:
    script = (ROOT / "deploy" / "temporal" / "setup-namespace.sh").read_text()
    created = dict(re.findall(r"^create_attribute (\w+) (\w+)$", script, flags=re.MULTILINE))
    expected = {
        key.name: "Datetime" if key.indexed_value_type.name == "DATETIME" else "Keyword"
        for key in search_attributes.ALL_KEYS
    }
    assert created == expected


def test_every_file_the_stack_mounts_is_in_the_repository() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name}: undeclared volume {source}"
    for entrypoint in (SERVICES[job]["entrypoint"] for job in ONE_SHOT):
        script = entrypoint[-1].replace("/deploy/", "deploy/temporal/")
        assert (ROOT / script).is_file()
