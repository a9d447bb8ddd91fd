"""Structural accessibility and offline checks for mockidp's HTML pages (stdlib only).

`page_problems` parses a page and lists what a screen-reader or keyboard user, or a browser
without network, would trip over: no ``lang``, controls without a label, buttons without text,
headings that skip a level, external resources, scripts.  It is not an audit, but it catches
the regressions that matter on these small pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import pairwise
from urllib.parse import urlsplit

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.all: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.all.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        for element in self.stack[1:]:
            element.text += data


def parse(html: str) -> list[Element]:
    """Every element of ``html``, in document order (``text`` is all the text inside)."""
    tree = _Tree()
    tree.feed(html)
    tree.close()
    return tree.all


def elements(html: str, tag: str, **attrs: str) -> list[Element]:
    """The ``tag`` elements whose attributes include ``attrs``."""
    return [e for e in parse(html) if e.tag == tag
            and all(e.attrs.get(k) == v for k, v in attrs.items())]


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of the page's first form (what a browser sends along)."""
    return {e.attrs["name"]: e.attrs.get("value", "") for e in parse(html)
            if e.tag == "input" and e.attrs.get("type") == "hidden" and "name" in e.attrs}


def page_problems(html: str, own_origins: tuple[str, ...]) -> list[str]:
    """What is wrong with the page; ``own_origins`` are the provider's own origins (links to
    them are fine, they are the provider's endpoints)."""
    found = parse(html)
    problems: list[str] = []
    html_tags = [e for e in found if e.tag == "html"]
    if not html_tags or not html_tags[0].attrs.get("lang"):
        problems.append("<html> has no lang attribute")
    if not any(e.tag == "title" and e.text.strip() for e in found):
        problems.append("no <title>")
    labelled = {e.attrs.get("for") for e in found if e.tag == "label"}
    ids = [e.attrs["id"] for e in found if "id" in e.attrs]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        problems.append(f"duplicate ids: {sorted(duplicates)}")
    for e in found:
        if e.tag in ("input", "textarea", "select") and e.attrs.get("type") != "hidden":
            if e.attrs.get("id") not in labelled and not e.attrs.get("aria-label"):
                problems.append(f"<{e.tag} name={e.attrs.get('name')!r}> has no label")
            for ref in e.attrs.get("aria-describedby", "").split():
                if ref not in ids:
                    problems.append(f"aria-describedby points at missing id {ref!r}")
        if e.tag == "button" and not (e.text.strip() or e.attrs.get("aria-label")):
            problems.append(f"<button {e.attrs}> has no text")
        if e.tag == "a" and not e.text.strip():
            problems.append(f"<a href={e.attrs.get('href')!r}> has no text")
        if e.tag == "script" and e.attrs.get("src"):
            problems.append(f"script loaded from {e.attrs['src']}")
        for name in ("src", "href", "action", "formaction", "poster", "data"):
            url = e.attrs.get(name)
            if url is None:
                continue
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") or url.startswith("//"):
                origin = f"{parts.scheme}://{parts.netloc}"
                if origin not in own_origins:
                    problems.append(f"<{e.tag} {name}={url!r}> leaves the provider")
            elif parts.scheme not in ("", "data"):
                problems.append(f"<{e.tag} {name}={url!r}> uses scheme {parts.scheme}")
    for e in found:
        if e.tag == "link" or (e.tag == "style" and re.search(r"@import|url\(", e.text)):
            problems.append(f"<{e.tag}> may load a resource: {e.attrs or e.text[:60]}")
    levels = [int(e.tag[1]) for e in found if re.fullmatch(r"h[1-6]", e.tag)]
    if levels.count(1) != 1:
        problems.append(f"expected exactly one <h1>, found {levels.count(1)}")
    for before, after in pairwise(levels):
        if after > before + 1:
            problems.append(f"heading level jumps from h{before} to h{after}")
    if levels and levels[0] != 1:
        problems.append("the first heading is not an <h1>")
    styles = " ".join(e.text for e in found if e.tag == "style")
    if ":focus" not in styles:
        problems.append("no visible focus style")
    if "mock identity provider" not in html.lower():
        problems.append("the test-double banner is missing")
    return problems
