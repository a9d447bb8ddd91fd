/* The example single-page app: oidc-client-ts (vendor/, global `oidc`) signs in at the issuer
 * named in config.js with the authorization code flow and PKCE, then the app calls the orders
 * API with the access token.  index.html is also the redirect URI and the post-logout page.
 *
 * #status[data-state] tells where it is: loading, anonymous, signed-in, api-ok, api-error,
 * or error (with data-error).
 */
"use strict";

(function () {
  var config = window.ORDERS_SPA;
  var home = new URL("/", window.location.href).href;
  var manager = new oidc.UserManager({
    authority: config.issuer,
    client_id: config.client_id,
    redirect_uri: home,
    post_logout_redirect_uri: home,
    response_type: "code",
    scope: "openid profile email",
    userStore: new oidc.WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: false,
    monitorSession: false,
  });

  function $(id) {
    return document.getElementById(id);
  }

  function describe(error) {
    if (!error) return "unknown error";
    if (error.error) return error.error + (error.error_description ? ": " + error.error_description : "");
    return error.message || String(error);
  }

  function status(state, text, error) {
    var element = $("status");
    element.dataset.state = state;
    if (error) element.dataset.error = error;
    element.textContent = text;
  }

  function nonce() {
    // The client is registered as strict (mockidp.toml), which asks a nonce of OpenID requests.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function show(user) {
    $("profile").textContent = JSON.stringify(user ? user.profile : null, null, 2);
    $("sign-in").disabled = !!user;
    $("call-api").disabled = !user;
    $("sign-out").disabled = !user;
    if (user) {
      status("signed-in", "Signed in as " + user.profile.sub + ".");
    } else {
      status("anonymous", "Not signed in.");
    }
  }

  async function callApi() {
    var user = await manager.getUser();
    var response = await fetch(config.api, {
      headers: { Authorization: "Bearer " + user.access_token },
    });
    var body = await response.text();
    $("api").textContent = response.status + " " + body;
    if (response.ok) {
      status("api-ok", "The API accepted the token.");
    } else {
      status("api-error", "The API answered " + response.status + ".", body);
    }
  }

  async function start() {
    var query = new URLSearchParams(window.location.search);
    if (query.has("state") && (query.has("code") || query.has("error"))) {
      await manager.signinRedirectCallback();
      window.history.replaceState(null, "", home);
    }
    show(await manager.getUser());
  }

  function fail(error) {
    status("error", "Error: " + describe(error), describe(error));
  }

  $("sign-in").addEventListener("click", function () {
    manager.signinRedirect({ nonce: nonce() }).catch(fail);
  });
  $("call-api").addEventListener("click", function () {
    callApi().catch(fail);
  });
  $("sign-out").addEventListener("click", function () {
    manager.signoutRedirect().catch(fail);
  });
  start().catch(fail);
})();
