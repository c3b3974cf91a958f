"""Input files are the first place bad data enters: whatever is in the file, the CLI answers
with the file and the problem named (exit code 2), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.app.catalog import PROCESSES
from sluice.app.inputs import EXIT_INPUT, MAX_INPUT_BYTES, CliError, read_input
from tests.conftest import EXAMPLES

json_values = st.recursive(
    # Numbers no field takes (infinite, of more than 30 digits) are refused before validation:
    # tests/test_cli_input_errors.py.
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**29), max_value=10**29)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=25,
)


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.command)
def test_every_example_is_a_valid_input(process: object) -> None:
    folder = EXAMPLES / process.command.replace("-", "_")  # type: ignore[attr-defined]
    files = sorted(folder.glob("*.json"))
    assert files, f"no examples for {process}"
    for path in files:
        read_input(process, path)  # type: ignore[arg-type]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300))
def test_any_bytes_are_either_a_valid_input_or_a_named_refusal(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    for process in PROCESSES:
        with pytest.raises(CliError) as refused:
            read_input(process, path)
        assert refused.value.code == EXIT_INPUT and str(path) in str(refused.value)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=json_values)
def test_any_json_is_validated_field_by_field(tmp_path: Path, document: object) -> None:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(document))
    for process in PROCESSES:
        with pytest.raises(CliError) as refused:
            read_input(process, path)
        assert "not a valid" in str(refused.value)


def test_wrong_encoding_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"shipper": "Müller"}'.encode("latin-1"))
    with pytest.raises(CliError, match="not UTF-8 text"):
        read_input(PROCESSES[0], path)


def test_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_INPUT_BYTES + 1)
    with pytest.raises(CliError, match="larger than the 50 MB"):
        read_input(PROCESSES[0], path)
