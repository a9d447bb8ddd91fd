"""The consent step (OIDC Core §3.1.2.4), switched on per issuer or per client: allow, deny,
remembered in the login session, forced by prompt=consent, consent_required with prompt=none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mockidp import MockIdP
from mockidp.core.errors import MockIdPError

from .a11y import elements, form_fields, page_problems
from .conftest import REDIRECT, authorize, query_of

CONFIG = {
    "users": {"alice": {"claims": {"name": "Alice Admin", "email": "alice@example.com"}}},
    "clients": {
        "asks": {"secret": "asks-secret", "redirect_uris": [REDIRECT], "consent": True},
        "trusted": {"secret": "trusted-secret", "redirect_uris": [REDIRECT]},
    },
    "issuers": {
        "careful": {
            "consent": True,
            "clients": {"first-party": {"redirect_uris": [REDIRECT], "consent": False}},
        },
    },
}


@pytest.fixture(scope="module")
def idp() -> Iterator[MockIdP]:
    with MockIdP(CONFIG) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(idp: MockIdP) -> None:
    idp.reset()


def ask(idp: MockIdP, http: requests.Session, client: str = "asks", issuer: str = "default",
        **params: str) -> requests.Response:
    return authorize(idp, issuer, session=http, **{
        "client_id": client, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "openid profile", "state": "st", **params})


def answer(idp: MockIdP, http: requests.Session, page: requests.Response,
           action: str) -> requests.Response:
    form = elements(page.text, "form")[0]
    return http.post(idp.url + form.attrs["action"], data={**form_fields(page.text),
                                                           "action": action},
                     allow_redirects=False)


def is_consent_page(response: requests.Response) -> bool:
    return response.status_code == 200 and bool(
        elements(response.text, "button", name="action", value="allow"))


def code_of(response: requests.Response) -> str:
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    params = query_of(response.headers["Location"])
    assert "error" not in params, params
    assert params["state"] == "st"
    return params["code"]


def test_after_login_the_page_lists_the_client_and_the_scopes(
    idp: MockIdP, http: requests.Session
) -> None:
    page = ask(idp, http, login_hint="alice", scope="openid profile email")
    assert is_consent_page(page)
    assert "asks" in page.text and "alice" in page.text
    items = [" ".join(li.text.split()) for li in elements(page.text, "li")]
    for scope in ("openid", "profile", "email"):
        assert any(item.startswith(scope) for item in items), (scope, items)
    assert page.headers["Cache-Control"] == "no-store"
    assert page_problems(page.text, (idp.url,)) == []
    assert elements(page.text, "form")[0].attrs["action"] == "/default/authorize/consent"
    # the login happened: the session cookie comes with the page
    assert any(c.name == "mockidp_session" for c in http.cookies)


def test_allow_answers_the_client_and_the_tokens_work(idp: MockIdP,
                                                      http: requests.Session) -> None:
    page = ask(idp, http, login_hint="alice")
    code = code_of(answer(idp, http, page, "allow"))
    tokens = requests.post(f"{idp.issuer_url()}/token", auth=("asks", "asks-secret"),
                           data={"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": REDIRECT})
    assert tokens.status_code == 200, tokens.text
    consent = idp.assert_called(1, endpoint="consent")[0]
    assert (consent.user, consent.client_id, consent.status) == ("alice", "asks", 303)


def test_deny_sends_access_denied(idp: MockIdP, http: requests.Session) -> None:
    page = ask(idp, http, login_hint="alice")
    denied = answer(idp, http, page, "deny")
    params = query_of(denied.headers["Location"])
    assert (params["error"], params["state"]) == ("access_denied", "st")
    assert params["iss"] == idp.issuer_url()
    # nothing was remembered: the next request asks again
    assert is_consent_page(ask(idp, http))


def test_allow_is_remembered_for_the_same_or_fewer_scopes(idp: MockIdP,
                                                          http: requests.Session) -> None:
    code_of(answer(idp, http, ask(idp, http, login_hint="alice"), "allow"))
    code_of(ask(idp, http))  # same scopes: no page
    code_of(ask(idp, http, scope="openid"))  # fewer
    more = ask(idp, http, scope="openid profile email")  # more: asked again
    assert is_consent_page(more)
    code_of(answer(idp, http, more, "allow"))
    code_of(ask(idp, http, scope="email profile openid"))
    # remembered per client: another client with consent on asks for itself
    idp.add_client("asks-too", redirect_uris=[REDIRECT], consent=True)
    assert is_consent_page(ask(idp, http, client="asks-too"))


def test_remembered_in_the_login_session_only(idp: MockIdP, http: requests.Session) -> None:
    code_of(answer(idp, http, ask(idp, http, login_hint="alice"), "allow"))
    with requests.Session() as other_browser:
        assert is_consent_page(ask(idp, other_browser, login_hint="alice"))
    requests_ = http.get(f"{idp.issuer_url()}/endsession", allow_redirects=False)
    assert requests_.status_code == 200
    assert is_consent_page(ask(idp, http, login_hint="alice"))


def test_prompt_consent_asks_again(idp: MockIdP, http: requests.Session) -> None:
    code_of(answer(idp, http, ask(idp, http, login_hint="alice"), "allow"))
    forced = ask(idp, http, prompt="consent")
    assert is_consent_page(forced)
    code_of(answer(idp, http, forced, "allow"))
    assert "consent" in requests.get(
        f"{idp.issuer_url()}/.well-known/openid-configuration").json()["prompt_values_supported"]


def test_prompt_none_needing_consent_is_consent_required(idp: MockIdP,
                                                         http: requests.Session) -> None:
    first = ask(idp, http, login_hint="alice")  # logged in, consent not given yet
    assert is_consent_page(first)
    silent = ask(idp, http, prompt="none")
    params = query_of(silent.headers["Location"])
    assert (params["error"], params["state"]) == ("consent_required", "st")
    code_of(answer(idp, http, first, "allow"))
    code_of(ask(idp, http, prompt="none"))  # now remembered
    assert query_of(ask(idp, http, prompt="none", scope="openid email").headers[
        "Location"])["error"] == "consent_required"


def test_the_login_page_leads_to_the_consent_page(idp: MockIdP,
                                                  http: requests.Session) -> None:
    login = ask(idp, http)
    assert login.status_code == 200 and elements(login.text, "button", name="pick",
                                                 value="alice")
    form = elements(login.text, "form")[0]
    page = http.post(idp.url + form.attrs["action"],
                     data={**form_fields(login.text), "pick": "alice"}, allow_redirects=False)
    assert is_consent_page(page), page.text[:300]
    assert any(c.name == "mockidp_recent" for c in http.cookies)
    code_of(answer(idp, http, page, "allow"))
    # a login interaction is not a consent interaction, and the other way round
    assert answer(idp, http, page, "allow").status_code == 400  # already answered


def test_clients_without_consent_are_not_asked(idp: MockIdP, http: requests.Session) -> None:
    code_of(ask(idp, http, client="trusted", login_hint="alice"))
    code_of(ask(idp, http, client="anyone", login_hint="alice"))
    idp.assert_not_called(endpoint="consent")


def test_issuer_wide_consent_and_a_client_that_opts_out(idp: MockIdP,
                                                        http: requests.Session) -> None:
    assert is_consent_page(ask(idp, http, client="anyone", issuer="careful",
                               login_hint="alice"))
    code_of(ask(idp, http, client="first-party", issuer="careful", login_hint="alice"))


def test_implicit_responses_wait_for_consent(idp: MockIdP, http: requests.Session) -> None:
    page = ask(idp, http, login_hint="alice", response_type="id_token", nonce="n",
               response_mode="form_post")
    assert is_consent_page(page)
    posted = answer(idp, http, page, "allow")
    assert posted.status_code == 200 and 'name="id_token"' in posted.text


def test_rules_see_the_consent_endpoint(idp: MockIdP, http: requests.Session) -> None:
    idp.add_rule(endpoint="consent", client_id="asks", error="temporarily_unavailable")
    page = ask(idp, http, login_hint="alice")
    params = query_of(answer(idp, http, page, "allow").headers["Location"])
    assert (params["error"], params["state"]) == ("temporarily_unavailable", "st")
    idp.check_rules()


@pytest.mark.parametrize("data", [
    {"interaction": "nope", "action": "allow"},
    {"action": "allow"},
    {"interaction": ["a", "b"], "action": "allow"},
])
def test_unknown_or_bad_consent_requests_are_pages_not_crashes(
    idp: MockIdP, data: dict[str, object]
) -> None:
    response = requests.post(f"{idp.issuer_url()}/authorize/consent", data=data,
                             allow_redirects=False)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Location" not in response.headers


def test_a_bad_action_keeps_the_question_open(idp: MockIdP, http: requests.Session) -> None:
    page = ask(idp, http, login_hint="alice")
    fields = form_fields(page.text)
    odd = http.post(f"{idp.issuer_url()}/authorize/consent",
                    data={**fields, "action": "maybe"}, allow_redirects=False)
    assert odd.status_code == 400
    # a consent interaction cannot be used to log in
    login = http.post(f"{idp.issuer_url()}/authorize/login",
                      data={**fields, "username": "mallory"}, allow_redirects=False)
    assert login.status_code == 400
    code_of(answer(idp, http, page, "allow"))


def test_consent_through_the_python_and_control_doors(idp: MockIdP,
                                                      http: requests.Session) -> None:
    created = requests.post(f"{idp.url}/_mockidp/clients",
                            json={"id": "via-http", "redirect_uris": [REDIRECT],
                                  "consent": True})
    assert created.status_code == 201 and created.json()["consent"] is True
    assert is_consent_page(ask(idp, http, client="via-http", login_hint="alice"))
    assert idp.clients()["via-http"].consent is True


@pytest.mark.parametrize(("config", "named"), [
    ({"consent": "yes"}, "consent"),
    ({"issuers": {"x": {"consent": 1}}}, "issuers.x.consent"),
    ({"clients": {"c": {"consent": "true"}}}, "clients.c.consent"),
])
def test_consent_setting_is_validated(config: dict[str, object], named: str) -> None:
    with pytest.raises(MockIdPError, match=named.replace(".", r"\.")):
        MockIdP(config)
    with pytest.raises(MockIdPError, match="consent"):
        MockIdP().add_client("c", consent="yes")


def test_consent_in_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "idp.toml"
    config.write_text(f'consent = true\n[clients.web]\nredirect_uris = ["{REDIRECT}"]\n'
                      "consent = false\n")
    idp = MockIdP(config)
    assert idp.issuer().settings.consent is True
    assert idp.clients()["web"].consent is False
