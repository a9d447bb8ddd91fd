"""Command line: ``mockidp serve | mint | jwks | check-config``.

Every option also reads a ``MOCKIDP_*`` environment variable (named in ``--help``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from mockidp.api import MAX_PORT, MockIdP
from mockidp.core.errors import MockIdPError
from mockidp.core.settings import SIGNING_ALGS, load_settings, with_profiles
from mockidp.core.version import __version__
from mockidp.serve.workers import MAX_WORKERS, worker_index
from mockidp.shared.connection import check_url, connect

config_option = click.option(
    "--config", "config", envvar="MOCKIDP_CONFIG", type=click.Path(dir_okay=False),
    help="Config file, TOML or JSON.  [env: MOCKIDP_CONFIG]",
)
keys_dir_option = click.option(
    "--keys-dir", envvar="MOCKIDP_KEYS_DIR", type=click.Path(file_okay=False),
    help="Keep signing keys here across restarts.  [env: MOCKIDP_KEYS_DIR]",
)
host_option = click.option(
    "--host", envvar="MOCKIDP_HOST", default="127.0.0.1", show_default=True,
    help="Address to bind.  [env: MOCKIDP_HOST]",
)
class WholeNumber(click.ParamType[int]):
    """A whole number within bounds; a bad value names where it came from (option or
    variable) and what was expected."""

    name = "integer"

    def __init__(self, low: int, high: int, what: str, note: str = "") -> None:
        self.low, self.high, self.what, self.note = low, high, what, note

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number: int | None = value
        else:
            text = str(value).strip()
            number = int(text) if text.lstrip("-").isdigit() else None
        if number is not None and self.low <= number <= self.high:
            return number
        self.fail(f"expected {self.what} from {self.low} to {self.high}{self.note}, "
                  f"got {value!r}{_from_env(param, ctx)}", param, ctx)


def PortType() -> WholeNumber:
    """A TCP port, 0 to 65535 (0: any free port)."""
    return WholeNumber(0, MAX_PORT, "a port number", " (0: any free port)")


class StoreType(click.ParamType[str]):
    """A Redis URL (``redis://``, ``rediss://``, ``unix://``)."""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        try:
            return check_url(value, "store")
        except MockIdPError:
            self.fail("expected a Redis URL such as redis://127.0.0.1:6379/0 (redis://, "
                      f"rediss:// or unix://), got {value!r}{_from_env(param, ctx)}", param, ctx)


def _from_env(param: click.Parameter | None, ctx: click.Context | None) -> str:
    """`` (from VARIABLE)`` when the parameter's value came from its environment variable."""
    if ctx is not None and param is not None and param.name is not None and \
            ctx.get_parameter_source(param.name) == click.core.ParameterSource.ENVIRONMENT:
        return f" (from {param.envvar})"
    return ""


class SecondsType(click.ParamType[float]):
    """A number of seconds within bounds; a bad value names where it came from."""

    name = "seconds"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if self.low <= number <= self.high:
            return number
        self.fail(f"expected a number of seconds from {self.low:g} to {self.high:g}, "
                  f"got {value!r}{_from_env(param, ctx)}", param, ctx)


port_option = click.option(
    "--port", envvar="MOCKIDP_PORT", default=8080, show_default=True, type=PortType(),
    help="Port to listen on (0: any free port).  [env: MOCKIDP_PORT]",
)
issuer_option = click.option(
    "--issuer", envvar="MOCKIDP_ISSUER", default="default", show_default=True,
    help="Issuer name (the first path segment).  [env: MOCKIDP_ISSUER]",
)


def _fail(exc: MockIdPError) -> None:
    raise click.ClickException(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mockidp")
def main() -> None:
    """mockidp: a mock OAuth 2.0 / OpenID Connect identity provider for tests."""


@main.command()
@host_option
@port_option
@config_option
@keys_dir_option
@click.option(
    "--interactive-login/--no-interactive-login", envvar="MOCKIDP_INTERACTIVE_LOGIN",
    default=None, help="Show the login page, or approve at once.  "
    "[env: MOCKIDP_INTERACTIVE_LOGIN=true|false]",
)
@click.option(
    "--public-url", envvar="MOCKIDP_PUBLIC_URL", default=None,
    help="Base of every issuer URL, whatever host name a request uses (e.g. "
    "http://localhost:8080 when a browser and containers reach the provider by different "
    "names).  [env: MOCKIDP_PUBLIC_URL]",
)
@click.option(
    "--allowed-hosts", envvar="MOCKIDP_ALLOWED_HOSTS", default="",
    help="Comma-separated host names the control API and dashboard answer on, besides "
    "loopback names, the public URL's host and the bound host (e.g. 'mockidp' for containers "
    "calling http://mockidp:8080/_mockidp/; '*' for any).  Without a control token, other "
    "Host names are refused, against DNS rebinding.  [env: MOCKIDP_ALLOWED_HOSTS]",
)
@click.option(
    "--control-token", envvar="MOCKIDP_CONTROL_TOKEN", default=None,
    help="Require 'Authorization: Bearer TOKEN' on the /_mockidp/ control API.  "
    "[env: MOCKIDP_CONTROL_TOKEN]",
)
@click.option(
    "--control/--no-control", envvar="MOCKIDP_CONTROL", default=True, show_default=True,
    help="Serve the /_mockidp/ control API.  [env: MOCKIDP_CONTROL=true|false]",
)
@click.option(
    "--tls/--no-tls", envvar="MOCKIDP_TLS", default=False, show_default=True,
    help="Serve HTTPS with a self-signed certificate for localhost and 127.0.0.1, made at "
    "start (kept in the keys directory when there is one) and printed.  "
    "[env: MOCKIDP_TLS=true|false]",
)
@click.option(
    "--tls-cert", envvar="MOCKIDP_TLS_CERT", default=None, type=click.Path(dir_okay=False),
    help="Serve HTTPS with this PEM certificate (chain) instead.  [env: MOCKIDP_TLS_CERT]",
)
@click.option(
    "--tls-key", envvar="MOCKIDP_TLS_KEY", default=None, type=click.Path(dir_okay=False),
    help="The private key of --tls-cert (PEM, unencrypted).  [env: MOCKIDP_TLS_KEY]",
)
@click.option(
    "--clock-skew", envvar="MOCKIDP_CLOCK_SKEW", type=float, default=None,
    help="Run the provider clock this many seconds ahead (negative: behind).  "
    "[env: MOCKIDP_CLOCK_SKEW]",
)
@click.option(
    "--server", "server_name", envvar="MOCKIDP_SERVER", default="auto", show_default=True,
    type=click.Choice(["auto", "granian", "werkzeug"]),
    help="HTTP server: granian (fast, keep-alive; installed with 'mockidp[server]') or "
    "werkzeug (threaded); auto picks granian when it is installed and TLS is off.  "
    "[env: MOCKIDP_SERVER]",
)
@click.option(
    "--idle-timeout", envvar="MOCKIDP_IDLE_TIMEOUT", type=SecondsType(1, 3600),
    default=60.0, show_default=True,
    help="Close a connection that sends no request for this many seconds (new or between "
    "requests), or stops sending its request that long.  "
    "[env: MOCKIDP_IDLE_TIMEOUT]",
)
@click.option(
    "--profile", "profiles", multiple=True, metavar="KIND:NAME[:OPTION=VALUE,...]",
    envvar="MOCKIDP_PROFILES",
    help="Declare an issuer that imitates a provider, without a config file: "
    "keycloak:myrealm, entra:contoso:tenant_id=GUID, auth0:shop, okta:okta:"
    "authorization_server=default, cognito:pool:user_pool_id=us-east-1_Example.  Repeat it "
    "for several.  [env: MOCKIDP_PROFILES, space-separated]",
)
@click.option(
    "--log-level", envvar="MOCKIDP_LOG_LEVEL", default="info", show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Logging level.  [env: MOCKIDP_LOG_LEVEL]",
)
@click.option(
    "--store", envvar="MOCKIDP_STORE", default=None, metavar="URL", type=StoreType(),
    help="Keep the provider's state in Redis at URL (redis://HOST:6379/0, rediss://..., "
    "unix:///PATH), shared by every process given the same URL: workers and replicas behave "
    "as one provider.  [env: MOCKIDP_STORE]",
)
@click.option(
    "--workers", envvar="MOCKIDP_WORKERS", default=1, show_default=True,
    type=WholeNumber(1, MAX_WORKERS, "a number of worker processes"),
    help="Server processes on the one port, sharing state through --store (without it: an "
    "embedded redis-server, when one is installed).  [env: MOCKIDP_WORKERS]",
)
def serve(
    host: str, port: int, config: str | None, keys_dir: str | None,
    interactive_login: bool | None, public_url: str | None, allowed_hosts: str,
    control_token: str | None, control: bool, tls: bool, tls_cert: str | None,
    tls_key: str | None, clock_skew: float | None, server_name: str, idle_timeout: float,
    profiles: tuple[str, ...], log_level: str, store: str | None, workers: int,
) -> None:
    """Run the provider until interrupted."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key (MOCKIDP_TLS_CERT, MOCKIDP_TLS_KEY) "
                               "go together: the certificate and its private key")
    from mockidp.serve.run import Serving, run, run_parent  # the servers: only to serve

    ctx = click.get_current_context()
    index = worker_index()
    parent = workers > 1 and index is None
    try:
        settings = with_profiles(load_settings(config), list(profiles), "MOCKIDP_PROFILES"
                                 if not _given(ctx, "profiles") else "--profile")
        store = store or getattr(settings, "store", None)
        if store is not None and index is None:  # unreachable: refused here, naming the URL
            connect(store, "--store" if _given(ctx, "store") else "MOCKIDP_STORE").close()
        idp = MockIdP(config=settings, host=host, port=port, keys_dir=keys_dir,
                      interactive_login=interactive_login, control=control,
                      control_token=control_token, public_url=public_url, tls=tls,
                      tls_cert=tls_cert, tls_key=tls_key,
                      allowed_hosts=[h for h in allowed_hosts.split(",") if h.strip()],
                      **({"store": store} if store is not None and not parent else {}))
        serving = Serving(host, port, server_name, idle_timeout, idp.tls_cert,
                          tls_cert is not None, idp.ssl_context(), control,
                          bool(control_token), store)
        if not parent or keys_dir:
            idp.load_keys()  # a bad key file stops start-up here, naming the file
        if parent:  # the workers share the parent's certificate
            files = [] if idp.tls_cert is None else ["--tls-cert", str(idp.tls_cert),
                                                     "--tls-key", str(idp.tls_key)]
            skip = {"host", "port", "store", "workers", "tls_cert", "tls_key"}
            ctx.exit(run_parent(idp, serving, workers, [*_passed_on(ctx, skip), *files]))
        if clock_skew is not None:
            idp.set_clock(skew=clock_skew)
        idp.make_keys_ahead()
        run(idp, serving, index)
    except MockIdPError as exc:
        _fail(exc)


def _passed_on(ctx: click.Context, skip: set[str]) -> list[str]:
    """The options of ``ctx`` given on its command line, but ``skip``, spelled again (for a
    worker: those from the environment it inherits)."""
    args: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None or param.name in skip \
                or not _given(ctx, param.name):
            continue
        value = ctx.params[param.name]
        if param.is_flag and param.secondary_opts:
            args.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            args += [part for item in (value if param.multiple else [value])
                     for part in (param.opts[0], str(item))]
    return args


def _claim_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


@main.command()
@click.option("--sub", default="user", show_default=True, envvar="MOCKIDP_SUB",
              help="Subject of the token.  [env: MOCKIDP_SUB]")
@click.option("--claim", "claims", multiple=True, metavar="NAME=VALUE", envvar="MOCKIDP_CLAIM",
              help="A claim; VALUE is parsed as JSON when it can be (repeatable).  "
              "[env: MOCKIDP_CLAIM, space-separated]")
@click.option("--audience", multiple=True, envvar="MOCKIDP_AUDIENCE",
              help="Audience (repeatable).  [env: MOCKIDP_AUDIENCE, space-separated]")
@click.option("--scope", default=None, envvar="MOCKIDP_SCOPE",
              help="Space-separated scopes.  [env: MOCKIDP_SCOPE]")
@click.option("--expires-in", type=int, default=None, envvar="MOCKIDP_EXPIRES_IN",
              help="Lifetime in seconds (negative: already expired).  [env: MOCKIDP_EXPIRES_IN]")
@click.option("--alg", default=None, envvar="MOCKIDP_ALG", type=click.Choice(SIGNING_ALGS),
              help="Signing algorithm; by default the issuer's signing_alg (RS256 unless the "
              "config says otherwise).  [env: MOCKIDP_ALG]")
@click.option("--bad", "bad", default=None, envvar="MOCKIDP_BAD", metavar="KIND",
              help="Print a deliberately invalid token of this kind (see 'mockidp bad-tokens').  "
              "[env: MOCKIDP_BAD]")
@issuer_option
@click.option("--host", envvar="MOCKIDP_HOST", default="127.0.0.1", show_default=True,
              help="Host of the issuer URL the token names in 'iss' (http://HOST:PORT/ISSUER): "
              "where the server the token is for is reached.  [env: MOCKIDP_HOST]")
@click.option("--port", envvar="MOCKIDP_PORT", default=8080, show_default=True, type=PortType(),
              help="Port of that issuer URL.  [env: MOCKIDP_PORT]")
@click.option("--public-url", envvar="MOCKIDP_PUBLIC_URL", default=None,
              help="Base of the issuer URL instead of http://HOST:PORT, as the server's "
              "--public-url.  [env: MOCKIDP_PUBLIC_URL]")
@config_option
@click.option("--keys-dir", envvar="MOCKIDP_KEYS_DIR", type=click.Path(file_okay=False),
              help="Sign with the keys in this directory (made there when missing), as a server "
              "started with the same --keys-dir does.  [env: MOCKIDP_KEYS_DIR]")
@click.option("--url", envvar="MOCKIDP_URL", default=None, metavar="URL",
              help="Mint through the mockidp server running at URL (e.g. http://127.0.0.1:8080), "
              "over its control API: signed with that server's keys, the token is one it "
              "accepts.  [env: MOCKIDP_URL]")
@click.option("--control-token", envvar="MOCKIDP_CONTROL_TOKEN", default=None,
              help="With --url: the server's control token, sent as 'Authorization: Bearer'.  "
              "[env: MOCKIDP_CONTROL_TOKEN]")
@click.pass_context
def mint(
    ctx: click.Context, sub: str, claims: tuple[str, ...], audience: tuple[str, ...],
    scope: str | None, expires_in: int | None, alg: str | None, bad: str | None, issuer: str,
    host: str, port: int, public_url: str | None, config: str | None, keys_dir: str | None,
    url: str | None, control_token: str | None,
) -> None:
    """Print a signed access token: the token alone on stdout, warnings on stderr.

    With --url, the server running there mints it, so that server accepts it.  Otherwise it is
    signed here: with the keys of --keys-dir, a server using the same keys directory (and
    issuer URL: --host, --port, --public-url) accepts it; without, the keys are throwaway,
    no server accepts the token, and a warning on stderr says so."""
    extra: dict[str, Any] = {}
    for item in claims:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--claim")
        extra[name] = _claim_value(value)
    fields: dict[str, Any] = {"sub": sub, "claims": extra or None,
                              "audience": list(audience) or None, "scope": scope,
                              "expires_in": expires_in, "alg": alg, "issuer": issuer}
    if url is not None:
        local = _given(ctx, "host", "port", "public_url", "config", "keys_dir")
        if local:
            raise click.UsageError(f"{', '.join(local)}: not with --url (or MOCKIDP_URL): the "
                                   "server there mints with its own keys, config and issuer URL")
        from mockidp.web.remote import mint_through  # loads an HTTP client: only for --url

        try:
            click.echo(mint_through(url, fields, bad, control_token))
        except MockIdPError as exc:
            _fail(exc)
        return
    if _given(ctx, "control_token"):
        raise click.UsageError("--control-token goes with --url: the control token of the "
                               "server that mints the token")
    try:
        if bad == "revoked":
            raise MockIdPError(
                "--bad revoked: only the running server that must reject the token can revoke "
                "it; mint it there: --url http://HOST:PORT (or MOCKIDP_URL)"
            )
        idp = MockIdP(config=config, host=host, port=port, keys_dir=keys_dir,
                      public_url=public_url)
        token = idp.mint(**fields) if bad is None else idp.mint_bad(bad, **fields)
    except MockIdPError as exc:
        _fail(exc)
        return
    if idp.keys_dir is None:  # on stderr: stdout stays the token alone
        click.echo(f"Warning: signed with throwaway keys made for this command alone: no "
                   f"running server knows them, so none accepts this token.  Mint through the "
                   f"server (--url {idp.url}, or MOCKIDP_URL), or give this command the "
                   f"server's --keys-dir.", err=True)
    click.echo(token)


def _given(ctx: click.Context, *names: str) -> list[str]:
    """The options among ``names`` given on the command line (not from the environment)."""
    return ["--" + name.replace("_", "-") for name in names
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]


@main.command()
@issuer_option
@config_option
@keys_dir_option
def jwks(issuer: str, config: str | None, keys_dir: str | None) -> None:
    """Print the issuer's public JWKS (JSON)."""
    try:
        idp = MockIdP(config=config, keys_dir=keys_dir)
        click.echo(json.dumps(idp.jwks(issuer), indent=2))
    except MockIdPError as exc:
        _fail(exc)


@main.group()
def keys() -> None:
    """List, rotate or retire signing keys in a keys directory.  (A running server's keys
    are rotated over its control API: POST /_mockidp/keys/rotate.)"""


@keys.command("list")
@issuer_option
@keys_dir_option
def keys_list(issuer: str, keys_dir: str | None) -> None:
    """Print the published keys: kid, alg, key type, active or rotated out."""
    try:
        for key in MockIdP(keys_dir=keys_dir).keys(issuer):
            state = "active" if key["active"] else "rotated out"
            click.echo(f"{key['kid']:50} {key['alg']:6} {key['kty']:4} {state}")
    except MockIdPError as exc:
        _fail(exc)


def _need_keys_dir(keys_dir: str | None) -> str:
    if not keys_dir:
        raise click.UsageError("--keys-dir (or MOCKIDP_KEYS_DIR) is required: without it the "
                               "keys exist only in this process")
    return keys_dir


@keys.command("rotate")
@issuer_option
@keys_dir_option
@click.option("--alg", default=None, help="Rotate only this algorithm's key type.")
def keys_rotate(issuer: str, keys_dir: str | None, alg: str | None) -> None:
    """Make new active keys; the old ones stay published until retired."""
    try:
        for kid in MockIdP(keys_dir=_need_keys_dir(keys_dir)).rotate_keys(issuer, alg):
            click.echo(kid)
    except MockIdPError as exc:
        _fail(exc)


@keys.command("retire")
@issuer_option
@keys_dir_option
@click.option("--kid", default=None, help="Retire only this rotated-out key.")
def keys_retire(issuer: str, keys_dir: str | None, kid: str | None) -> None:
    """Stop publishing rotated-out keys; tokens they signed no longer verify."""
    try:
        for removed in MockIdP(keys_dir=_need_keys_dir(keys_dir)).retire_keys(issuer, kid):
            click.echo(removed)
    except MockIdPError as exc:
        _fail(exc)


@main.command("bad-tokens")
def bad_tokens() -> None:
    """List the kinds of deliberately invalid tokens that 'mint --bad' makes."""
    for kind, description in MockIdP().bad_token_kinds().items():
        click.echo(f"{kind:18} {description}")


@main.command("check-config")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def check_config(path: Path) -> None:
    """Validate a config file; print what it declares, or the error naming the field."""
    try:
        settings = load_settings(path)
        MockIdP(settings)  # rules are checked when a provider takes them
    except MockIdPError as exc:
        _fail(exc)
        return
    click.echo(
        f"{path}: OK ({len(settings.users)} users, {len(settings.clients)} clients, "
        f"{len(settings.rules)} rules, issuers: {', '.join(['default', *settings.issuers])})"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
