"""An application configured for Keycloak, unchanged: python-keycloak signs a user in with the
password grant, checks the access token against the realm's keys, reads userinfo, refreshes,
introspects and logs out; then a service account gets its own token.

Run against a real Keycloak or against mockidp standing in for one; only the server URL
differs::

    python app.py --server-url http://mockidp:8080/ --realm myrealm \
        --client-id orders --client-secret orders-secret --user alice --password alice

It prints what it saw as JSON and exits non-zero if any step failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from keycloak import KeycloakOpenID


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--realm", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--wait", type=float, default=30.0,
                        help="seconds to wait for the server to answer (compose start-up)")
    args = parser.parse_args()
    keycloak = KeycloakOpenID(server_url=args.server_url, realm_name=args.realm,
                              client_id=args.client_id, client_secret_key=args.client_secret)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            issuer = keycloak.well_known()["issuer"]
            break
        except Exception:  # not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    tokens = keycloak.token(args.user, args.password)
    claims = keycloak.decode_token(tokens["access_token"])  # signature, exp: the realm's keys
    userinfo = keycloak.userinfo(tokens["access_token"])
    refreshed = keycloak.refresh_token(tokens["refresh_token"])
    introspection = keycloak.introspect(refreshed["access_token"])
    keycloak.logout(refreshed["refresh_token"])
    service = keycloak.token(grant_type="client_credentials")
    report = {
        "issuer": issuer,
        "user": claims["preferred_username"],
        "realm_roles": claims.get("realm_access", {}).get("roles", []),
        "userinfo_email": userinfo.get("email"),
        "active_after_refresh": introspection["active"],
        "service_account": keycloak.decode_token(service["access_token"])["preferred_username"],
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
