"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from edgetwin.cloud.plant_link import PlantLink
from edgetwin.cloud.services import Services
from edgetwin.core.settings import Settings


@dataclass(frozen=True)
class Caller:
    """Who is calling. Until tokens are enforced every caller is the local operator; routes take
    it as a dependency already, so enforcing roles and tenants later changes no route's body."""

    name: str
    role: str
    tenants: frozenset[str]

    def may_see(self, tenant: str) -> bool:
        return "*" in self.tenants or tenant in self.tenants


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_plant_link(request: Request) -> PlantLink:
    link: PlantLink = request.app.state.plant_link
    return link


def get_caller() -> Caller:
    return Caller(name="local", role="admin", tenants=frozenset({"*"}))


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PlantLinkDep = Annotated[PlantLink, Depends(get_plant_link)]
CallerDep = Annotated[Caller, Depends(get_caller)]
