"""Request bodies of the CRM API, with HubSpot's field names (camelCase on the wire).

Responses are built as plain dicts in `store`/`app`, in HubSpot's shape.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# HubSpot takes property values as JSON strings, but also numbers and booleans.
PropertyValue = str | int | float | bool | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ObjectRef(_Body):
    id: str | int


class AssociationSpec(_Body):
    associationCategory: str = "HUBSPOT_DEFINED"
    associationTypeId: int


class AssociationInput(_Body):
    to: ObjectRef
    types: list[AssociationSpec] = Field(min_length=1)


class CreateInput(_Body):
    properties: dict[str, PropertyValue]
    associations: list[AssociationInput] = Field(default_factory=list)


class UpdateInput(_Body):
    properties: dict[str, PropertyValue]


class UpsertInput(_Body):
    idProperty: str
    id: str
    properties: dict[str, PropertyValue] = Field(default_factory=dict)
    objectWriteTraceId: str | None = None


class BatchUpsertInput(_Body):
    inputs: list[UpsertInput]


class ReadRef(_Body):
    id: str


class BatchReadInput(_Body):
    inputs: list[ReadRef]
    properties: list[str] = Field(default_factory=list)
    idProperty: str | None = None


class Filter(_Body):
    propertyName: str
    operator: str
    value: PropertyValue = None
    highValue: PropertyValue = None
    values: list[str | int | float | bool] | None = None


class FilterGroup(_Body):
    filters: list[Filter] = Field(default_factory=list)


class Sort(_Body):
    propertyName: str
    direction: str = "ASCENDING"


class SearchInput(_Body):
    filterGroups: list[FilterGroup] = Field(default_factory=list)
    # HubSpot also takes a sort as a bare property name, "-name" for descending.
    sorts: list[Sort | str] = Field(default_factory=list)
    properties: list[str] = Field(default_factory=list)
    query: str | None = None
    limit: int = 10
    after: str | int | None = None
