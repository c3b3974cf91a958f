"""The data converter every client and worker uses.

Payloads are plain JSON produced from pydantic models, so clients we did not write (the
``temporal`` CLI, the UI) can start runs and send decisions. An optional payload codec
(encryption) wraps the JSON without changing its shape; optional external storage
(``sluice.payload_store``) keeps large payloads, already encrypted, out of the history.
"""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    ExternalStorage,
    PayloadCodec,
)


def sluice_data_converter(
    codec: PayloadCodec | None = None, external_storage: ExternalStorage | None = None
) -> DataConverter:
    """Pydantic JSON payloads, optionally wrapped by ``codec``.

    With a codec, failure messages and stack traces are moved into an encoded payload too:
    an error can quote its input (a validation error echoes the bad value). With
    ``external_storage`` the SDK encodes a payload first and then stores it, so a stored
    payload is as encrypted as the history."""
    converter = pydantic_data_converter
    if external_storage is not None:
        converter = dataclasses.replace(converter, external_storage=external_storage)
    if codec is None:
        return converter
    return dataclasses.replace(
        converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
