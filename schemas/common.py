"""Fields shared by several schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

from consent.identifiers import InvalidIdentifier, normalize_hetu, validate_business_id


class Hetu(fields.String):
    """A Finnish personal identity code, validated fully and returned in canonical form."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalize_hetu(text)
        except InvalidIdentifier as exc:
            raise ValidationError(f"Not a valid personal identity code: {exc}") from exc


class BusinessId(fields.String):
    """A Finnish business id (Y-tunnus) with its mod-11 check digit."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return validate_business_id(text)
        except InvalidIdentifier as exc:
            raise ValidationError(f"Not a valid business id: {exc}") from exc
