"""Profiles: where a kind of issuer puts its endpoints, as data.

A `Profile` names the mount its issuers live at (``/{issuer}`` for the generic profile: one
path segment holding the issuer name, or a fixed path for one issuer), the path of each
endpoint under that mount, and the RFC 8414 §3 well-known prefix its authorization server
metadata is also answered at.  `mockidp.http.routes.RouteTable` turns profiles into routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ISSUER_VARIABLE = "{issuer}"


@dataclass(frozen=True)
class Profile:
    """Where the endpoints of an issuer of this kind live.

    ``mount`` is the template of an issuer's mount point: a literal prefix followed by
    ``/{issuer}`` (one path segment), e.g. ``/{issuer}`` or ``/realms/{issuer}``.  ``paths``
    maps each endpoint name (`mockidp.core.model.ENDPOINTS`) to its path below the mount.
    ``metadata_root``, when set, is the well-known prefix RFC 8414 §3 inserts between the
    host and the issuer's path, where ``oauth_metadata`` is answered too.
    """

    name: str
    mount: str
    paths: Mapping[str, str]
    metadata_root: str | None = None

    def mount_of(self, issuer: str) -> str:
        """The mount point of issuer ``issuer``: the path its identifier ends with."""
        return self.mount.replace(ISSUER_VARIABLE, issuer)

    def url_of(self, issuer_url: str, endpoint: str) -> str:
        """The URL of ``endpoint`` of the issuer identified as ``issuer_url``."""
        return issuer_url + self.paths[endpoint]
