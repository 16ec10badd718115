"""Read a requisition, a goods receipt or a supplier invoice from a JSON file, naming exactly
what is wrong with a bad one (the file, the field, the problem)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from domain.purchasing.models import GoodsReceipt, Requisition, SupplierInvoice
from domain.purchasing.rules import describe, validate_requisition

M = TypeVar("M", bound=BaseModel)


class PurchaseFileError(ValueError):
    pass


def _read(path: Path) -> Any:
    try:
        raw = path.read_text()
    except OSError as err:
        raise PurchaseFileError(f"cannot read {path}: {err.strerror}") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise PurchaseFileError(
            f"{path} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None


def _model(path: Path, data: Any, model: type[M], what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        )
        raise PurchaseFileError(f"{path} is not a valid {what}: {problems}") from None


def load_requisition(path: Path) -> Requisition:
    requisition = _model(path, _read(path), Requisition, "requisition")
    if violations := validate_requisition(requisition):
        raise PurchaseFileError(f"{path} is not a valid requisition: {describe(violations)}")
    return requisition


def _document(path: Path, requisition_id: str, model: type[M], what: str) -> M:
    """A document for the purchase named on the command line: the file may leave the
    requisition out; naming another one is a mistake, not something to send elsewhere."""
    data = _read(path)
    if isinstance(data, dict):
        named = data.setdefault("requisition_id", requisition_id)
        if named != requisition_id:
            raise PurchaseFileError(
                f"{path} is a {what} for requisition {named}, not {requisition_id}"
            )
    return _model(path, data, model, what)


def load_receipt(path: Path, requisition_id: str) -> GoodsReceipt:
    return _document(path, requisition_id, GoodsReceipt, "goods receipt")


def load_invoice(path: Path, requisition_id: str) -> SupplierInvoice:
    return _document(path, requisition_id, SupplierInvoice, "supplier invoice")
