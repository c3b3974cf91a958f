"""The data converter every client and worker uses.

Payloads are plain JSON produced from pydantic models, so clients we did not write (the
``temporal`` CLI, the UI) can start runs and send decisions. An optional payload codec
(encryption) wraps the JSON without changing its shape; optional external storage
(``sluice.payload_store``) keeps large payloads, already encrypted, out of the history.

Workers read what anybody may send, so they convert with ``worker_data_converter``: a payload
that cannot be decrypted reaches the workflow as a marker its handlers refuse and record
(instead of failing every workflow task of the run), and a run's own input that cannot be
read or does not validate fails the run at once with the reason.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    ExternalStorage,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.exceptions import ApplicationError

from sluice.codec import UNREADABLE, CodecError, refusal_of, unreadable
from sluice.payload_store import refusing_claims
from sluice.validation import validation_problems

# The error type of a run whose own input was refused (see ``WorkerPayloadConverter``).
INVALID_INPUT = "InvalidInput"


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


def worker_data_converter(converter: DataConverter) -> DataConverter:
    """``converter`` as a worker uses it: undecryptable payloads and refused large-payload
    claims become markers, and a run's input that does not convert fails the run. Clients
    keep the strict converter, so the CLI names a payload it cannot decrypt or fetch."""
    codec = converter.payload_codec
    if codec is not None and not isinstance(codec, MarkingCodec):
        codec = MarkingCodec(codec)
    storage = converter.external_storage
    if storage is not None:
        storage = refusing_claims(storage)
    return dataclasses.replace(
        converter,
        payload_converter_class=WorkerPayloadConverter,
        payload_codec=codec,
        external_storage=storage,
    )


class MarkingCodec(PayloadCodec):
    """``codec``, except that a payload it cannot decode becomes an ``unreadable`` marker.

    The worker decodes every payload of a workflow activation before the workflow sees any
    of it, so one forged payload (a made-up key id, a short nonce, a bad tag) in a signal would
    otherwise fail the activation, and with it every later workflow task of the run."""

    def __init__(self, codec: PayloadCodec) -> None:
        super().__init__()
        self.codec = codec

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.codec.encode(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        try:
            return await self.codec.decode(payloads)
        except CodecError:
            # Only then one by one, to mark exactly the payloads that do not open.
            return [await self._decode_one(payload) for payload in payloads]

    async def _decode_one(self, payload: Payload) -> Payload:
        try:
            [decoded] = await self.codec.decode([payload])
        except CodecError as err:
            return unreadable(str(err))
        return decoded


class UnreadablePayloadConverter(EncodingPayloadConverter):
    """Turns an ``unreadable`` marker into its reason, as an error, wherever it is read."""

    @property
    def encoding(self) -> str:
        return UNREADABLE.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        raise CodecError(refusal_of(payload) or "a payload could not be decrypted")


class WorkerPayloadConverter(PydanticPayloadConverter, WithSerializationContext):
    """Pydantic JSON, plus the ``unreadable`` marker; in a workflow's own context (its input)
    a payload that does not convert is an ``InvalidInput`` application error.

    The SDK fails a run, rather than its workflow task, on an application error raised while
    converting the run's input: a raw ``temporal workflow start`` with input that does not
    validate then ends at once with the reason instead of retrying its task forever. Activity
    results keep failing the task, which a deployment can fix."""

    def __init__(self, context: SerializationContext | None = None) -> None:
        super().__init__()
        self._set_converters(*self.converters.values(), UnreadablePayloadConverter())
        self._context = context

    def with_context(self, context: SerializationContext) -> WorkerPayloadConverter:
        # A shallow copy shares the JSON converter and its cache of pydantic type adapters.
        bound = copy.copy(self)
        bound._context = context
        return bound

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        try:
            return super().from_payloads(payloads, type_hints)
        except Exception as err:
            if not isinstance(self._context, WorkflowSerializationContext):
                raise
            raise ApplicationError(
                f"input refused: {conversion_problem(err)}", type=INVALID_INPUT, non_retryable=True
            ) from None


def conversion_problem(err: BaseException) -> str:
    """A conversion failure as one line: each invalid field, or the first line of the error."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, ValidationError | CodecError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ValidationError):
        return validation_problems(cause, whole="(payload)")
    shown = cause or err
    return str(shown).splitlines()[0][:300] if str(shown) else type(shown).__name__
