"""The lines ``mockidp serve`` prints once it listens: what it is (a test double), where its
issuers, discovery, control API and dashboard are, the TLS certificate to trust, and, with a
shared store or several workers, which store and which processes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockidp.core.version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from mockidp.provider import Provider

BANNER = (
    "mockidp {version}: a MOCK OAuth 2.0 / OpenID Connect provider for tests. "
    "It accepts any client and user by default: never use it to protect anything real."
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def banner_lines(idp: Provider, host: str, port: int, *, tls_cert: Path | None, own_cert: bool,
                 control: bool, control_token: bool, server: str, store: str | None = None,
                 workers: str | None = None) -> list[str]:
    """The banner of ``idp`` listening on ``host:port``: HTTPS with ``tls_cert`` (the
    user's when ``own_cert``, else self-signed here); ``server`` names the HTTP server;
    ``store`` is the shared store as shown (a redacted URL), ``workers`` the worker
    processes, when any."""
    lines: list[str] = []
    base = f"{'https' if tls_cert is not None else 'http'}://{host}:{port}"
    profile = idp.issuer("default").profile
    lines.append(BANNER.format(version=__version__))
    lines.append(f"Issuer:    {idp.issuer_url_for('default', base)}")
    if idp.public_url:
        lines.append(f"Listening: {base} (issuer URLs use the public URL)")
    lines.append(f"Discovery: {idp.issuer('default').url(base, 'discovery')}")
    lines += [f"{kind.title + ':':<10} issuer '{name}', iss {idp.issuer_url_for(name, base)}"
              for kind, mount, name in idp.mounts() if mount == idp.issuer(name).mount]
    if tls_cert is not None:
        if own_cert:
            what = "yours"
        else:
            from mockidp.serve.tls import certificate_names

            what = "self-signed for " + ", ".join(certificate_names(tls_cert))
        lines.append(f"TLS:       certificate {tls_cert} ({what}; trust it with e.g. "
                     "curl --cacert FILE, requests verify=FILE, NODE_EXTRA_CA_CERTS=FILE)")
        if idp.public_url and not idp.public_url.startswith("https:"):
            lines.append("Warning:   the public URL is not https:// but the server speaks HTTPS")
    lines.append("Any other issuer is created on first use: " + base
                 + profile.mount.replace("{issuer}", "{name}"))
    if control:
        protection = "bearer token required" if control_token else "no token: loopback, the " \
            "public URL's host and allowed hosts may script it"
        lines.append(f"Control:   {base}/_mockidp/ ({protection}; OpenAPI: "
                     f"{base}/_mockidp/openapi.json)")
        lines.append(f"Dashboard: {base}/")
    if host not in LOOPBACK:
        lines.append(f"Listening on {host}: reachable from other machines.")
    if store is not None:
        lines.append(f"Store:     {store}")
    if workers is not None:
        lines.append(f"Workers:   {workers}")
    lines.append(f"Server:    {server}; stop it with Ctrl-C (SIGINT) or SIGTERM")
    return lines
