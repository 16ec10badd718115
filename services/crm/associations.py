"""HubSpot-defined association types between contacts, companies and deals.

Types are one-directional; every association is stored together with its inverse, as HubSpot does.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.crm.properties import ObjectType

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"

C, CO, D = ObjectType.CONTACTS, ObjectType.COMPANIES, ObjectType.DEALS


@dataclass(frozen=True)
class AssociationType:
    type_id: int
    from_type: ObjectType
    to_type: ObjectType
    inverse_id: int
    label: str | None = None  # None for the unlabeled (default) type


TYPES: dict[int, AssociationType] = {
    t.type_id: t
    for t in (
        AssociationType(279, C, CO, 280),
        AssociationType(280, CO, C, 279),
        AssociationType(1, C, CO, 2, "Primary"),
        AssociationType(2, CO, C, 1, "Primary"),
        AssociationType(3, D, C, 4),
        AssociationType(4, C, D, 3),
        AssociationType(341, D, CO, 342),
        AssociationType(342, CO, D, 341),
        AssociationType(5, D, CO, 6, "Primary"),
        AssociationType(6, CO, D, 5, "Primary"),
    )
}

# What `PUT .../associations/default/...` creates: the unlabeled type for the pair.
DEFAULT_TYPES: dict[tuple[ObjectType, ObjectType], AssociationType] = {
    (t.from_type, t.to_type): t for t in TYPES.values() if t.label is None
}


def v3_type_name(from_type: ObjectType, to_type: ObjectType) -> str:
    """The v3 name of the unlabeled type, e.g. `deal_to_contact`."""
    singular = {C: "contact", CO: "company", D: "deal"}
    return f"{singular[from_type]}_to_{singular[to_type]}"
