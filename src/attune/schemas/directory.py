"""Looking users and items up: by id prefix, by ids, with the facts that tell them apart."""

from __future__ import annotations

from pydantic import BaseModel, Field

from attune.schemas.records import AttributeValue


class UserSummary(BaseModel):
    """A user id with the facts that tell users apart in a list."""

    user_id: str = Field(description="External user id.")
    history: int = Field(description="Events in the window the model reads for this user.")
    attributes: dict[str, AttributeValue] = Field(
        description="The user's attributes (empty if none were given)."
    )


class UserList(BaseModel):
    """Users whose id starts with a prefix."""

    users: list[UserSummary] = Field(
        description="An exact id match first, then the others in the order they became known."
    )
    more: bool = Field(description="Whether more users match than were returned.")


class ItemSummary(BaseModel):
    """What the catalogue says about one item."""

    item_id: str = Field(description="External item id.")
    known: bool = Field(description="Whether the catalogue holds this item.")
    title: str | None = Field(description="The item's `title` attribute, if it has one.")
    attributes: dict[str, AttributeValue] = Field(description="The item's attributes.")


class ItemList(BaseModel):
    """Items looked up by id, in the order asked."""

    items: list[ItemSummary] = Field(description="One entry per requested id.")
