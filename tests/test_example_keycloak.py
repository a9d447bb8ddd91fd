"""examples/keycloak/ without Docker: ``mockidp serve`` started with the environment and the
config file its docker-compose.yml gives the ``mockidp`` service, and the example application
(python-keycloak, configured as for a real Keycloak) run with the command line of the ``app``
service.  What changes from the files as shipped: the port (a free one), so the server URL."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from typing import Any

from .conftest import ROOT
from .local_server import free_port, mockidp_serve
from .test_container import mounts, parse_yaml_subset

EXAMPLE = ROOT / "examples" / "keycloak"
COMPOSE: dict[str, Any] = parse_yaml_subset((EXAMPLE / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
COMPOSE_URL = "http://mockidp:8080/"


def app_command() -> list[str]:
    """The ``app`` service's ``python /app/app.py ...`` (after its ``pip install``)."""
    shell, flag, script = SERVICES["app"]["command"]
    assert (shell, flag) == ("sh", "-c")
    install, _, run = script.partition(" && ")
    assert install.startswith("pip install -q 'python-keycloak")
    return shlex.split(run)


def test_the_compose_file_gives_the_app_only_the_server_url() -> None:
    mockidp, app = SERVICES["mockidp"], SERVICES["app"]
    assert (EXAMPLE / mockidp["build"]["context"]).resolve() == ROOT
    assert mockidp["environment"]["MOCKIDP_PROFILES"] == "keycloak:myrealm"
    assert mounts(app)["/app/app.py"] == "./app.py"
    command = app_command()
    assert command[:2] == ["python", "/app/app.py"]
    options = dict(zip(command[2::2], command[3::2], strict=True))
    assert options["--server-url"] == COMPOSE_URL and options["--realm"] == "myrealm"
    assert app["depends_on"] == {"mockidp": {"condition": "service_healthy"}}


def test_the_example_app_runs_unchanged_against_the_example_server() -> None:
    service = SERVICES["mockidp"]
    env = dict(service["environment"])
    env["MOCKIDP_CONFIG"] = str(EXAMPLE / mounts(service)[env["MOCKIDP_CONFIG"]])
    port = free_port()
    with mockidp_serve("--port", str(port), env=env) as server:
        assert server.issuer() is not None, server.output
        base = f"http://127.0.0.1:{port}/"
        command = [base if arg == COMPOSE_URL else arg for arg in app_command()]
        command[:2] = [sys.executable, str(EXAMPLE / "app.py")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                              check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["issuer"] == f"{base}realms/myrealm"
    assert report["user"] == "alice" and report["userinfo_email"] == "alice@example.com"
    assert {"admin", "orders"} <= set(report["realm_roles"])  # the user's roles, as realm roles
    assert report["active_after_refresh"] is True
    assert report["service_account"] == "service-account-orders"
