"""The WSGI app the servers run: the protocol adapter, with the protocol's pages from
`mockidp.web.pages` and the Flask app (control API, dashboard) made when first needed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockidp.http.adapter import ProtocolAdapter
from mockidp.web import FlaskOnDemand
from mockidp.web.pages import Pages

if TYPE_CHECKING:
    from mockidp.provider import Provider


def serving_app(idp: Provider) -> ProtocolAdapter:
    """The whole server for ``idp`` as one WSGI app (imports neither Flask nor Jinja yet)."""
    return ProtocolAdapter(idp, renderer=Pages(), fallback=FlaskOnDemand(idp))
