"""The data converter every client and worker uses.

Payloads are plain JSON produced from pydantic models, so clients we did not write (the
``temporal`` CLI, the UI) can start runs and send decisions. An optional payload codec
(encryption) wraps the JSON without changing its shape.
"""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)


def sluice_data_converter(codec: PayloadCodec | None = None) -> DataConverter:
    """Pydantic JSON payloads, optionally wrapped by ``codec``.

    With a codec, failure messages and stack traces are moved into an encoded payload too:
    an error can quote its input (a validation error echoes the bad value)."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
