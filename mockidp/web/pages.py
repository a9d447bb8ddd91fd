"""The protocol's pages (login, consent, device, error, signed out, form post) rendered from
``web/templates`` with Jinja, for `mockidp.http.adapter.ProtocolAdapter`.

`Pages` is the renderer the servers hand to the adapter.  Its Jinja environment (autoescape
on, as Flask's for ``.html``) is made on the first page, under a lock, so a server that only
answers JSON never imports Jinja.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from mockidp.core.model import (
    ConsentPage,
    DevicePage,
    ErrorPage,
    FormPost,
    LoginPage,
    SignedOutPage,
)

if TYPE_CHECKING:
    from jinja2 import Environment

    from mockidp.http.wire import Page

TEMPLATES: dict[type[Any], str] = {
    LoginPage: "login.html",
    ConsentPage: "consent.html",
    DevicePage: "device.html",
    ErrorPage: "error.html",
    SignedOutPage: "signed_out.html",
    FormPost: "form_post.html",
}
WITH_ACTION = (LoginPage, ConsentPage, DevicePage)


class Pages:
    """Renders page outcomes with the package's templates (`mockidp.http.wire.PageRenderer`)."""

    def __init__(self) -> None:
        self._environment: Environment | None = None
        self._lock = threading.Lock()

    def environment(self) -> Environment:
        """The Jinja environment on ``web/templates``, made once."""
        with self._lock:
            if self._environment is None:
                from jinja2 import Environment, PackageLoader, select_autoescape

                self._environment = Environment(
                    loader=PackageLoader("mockidp.web", "templates"),
                    autoescape=select_autoescape(["html", "htm", "xml", "xhtml", "svg"]),
                )
            return self._environment

    def render(self, page: Page, action: str) -> str:
        """The HTML of ``page``; ``action`` is where its form posts (login, consent, device)."""
        environment = self._environment or self.environment()
        template = environment.get_template(TEMPLATES[type(page)])
        if isinstance(page, WITH_ACTION):
            return template.render(page=page, action=action)
        return template.render(page=page)
