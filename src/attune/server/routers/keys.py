"""`/v1/keys/me`: what the presented API key may do, so a client (the web console's login)
can tell an admin key from a narrower one before it acts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from attune.server.deps import AnyKey
from attune.server.problems import problem_responses
from attune.server.security import ApiKey, ApiScope, KeyRing

router = APIRouter(prefix="/v1/keys", tags=["operations"])


class KeyIdentity(BaseModel):
    """The key a request came with: its public id and scopes (never the secret)."""

    auth: bool = Field(description="Whether this server checks keys (false: loopback, no keys).")
    id: str | None = Field(description="Public part of the key; null when no key is needed.")
    name: str = Field(description="What the key is for, as given at `attune keys create`.")
    scopes: list[ApiScope] = Field(description="Scopes the key holds, sorted.")
    admin: bool = Field(description="Whether the key may do everything (the `admin` scope).")


@router.get("/me", responses=problem_responses(401, 403), summary="The calling key")
async def whoami(request: Request, key: Annotated[ApiKey | None, AnyKey]) -> KeyIdentity:
    """The id, name and scopes of the key sent with this request; any valid key may ask. A
    server without keys (loopback only) answers with every scope."""
    keys: KeyRing = request.app.state.keys
    if key is None:
        return KeyIdentity(auth=keys.enabled, id=None, name="", scopes=sorted(ApiScope), admin=True)
    return KeyIdentity(
        auth=True,
        id=key.id,
        name=key.name,
        scopes=sorted(key.scopes),
        admin=key.allows(ApiScope.ADMIN),
    )
