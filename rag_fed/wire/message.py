"""The base of every sealed message: frozen, strict, no unknown fields; compact JSON to seal and a parse that
names the bad fields (``InputError``) when a peer's payload is not this message."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from rag_fed.errors import InputError

__all__ = ["SealedMessage"]


class SealedMessage(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    _omitted_when_unset: ClassVar[frozenset[str]] = frozenset()
    """Fields added after the first release: left out of the JSON while ``None``, so a peer of the
    version before them (which refuses unknown fields) still reads every message that does not use them."""

    def to_bytes(self) -> bytes:
        """Compact JSON, ready to seal."""
        unset = {name for name in self._omitted_when_unset if getattr(self, name) is None}
        return self.model_dump_json(exclude=unset or None).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse an opened envelope's payload; ``InputError`` naming the bad fields if it is invalid."""
        try:
            return cls.model_validate_json(data)
        except ValidationError as error:
            details = "; ".join(
                f"{'.'.join(str(part) for part in issue['loc']) or 'body'}: {issue['msg']}"
                for issue in error.errors(include_input=False, include_url=False)[:5]
            )
            raise InputError(f"invalid {cls.__name__} from peer: {details}") from None
