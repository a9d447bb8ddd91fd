/* The browser test's single-page app: oidc-client-ts (vendored, global `oidc`) signing in
 * against the mockidp issuer named in config.js, which the test serves:
 *
 *     window.MOCKIDP_SPA = { issuer: "http://127.0.0.1:PORT/default" };
 *
 * (optionally `client_id`, default "browser-spa").  Every page of the app loads this file and
 * acts by its <body data-page>: "home" (index.html, also the post-logout page), "callback"
 * (redirect_uri) and "silent-renew" (silent_redirect_uri, inside the hidden iframe).
 *
 * For the test, the state is in #status[data-state]: loading, anonymous, signed-in, renewed,
 * renew-failed (with data-error), signed-out or error.
 */
"use strict";

(function () {
  var config = window.MOCKIDP_SPA || {};
  var here = new URL(".", window.location.href);

  function settings() {
    if (!config.issuer) {
      throw new Error("config.js must set window.MOCKIDP_SPA = { issuer: ... }");
    }
    return {
      authority: config.issuer,
      client_id: config.client_id || "browser-spa",
      redirect_uri: new URL("callback.html", here).href,
      silent_redirect_uri: new URL("silent-renew.html", here).href,
      post_logout_redirect_uri: new URL("index.html", here).href,
      response_type: "code",
      scope: "openid profile email",
      automaticSilentRenew: false,
      monitorSession: false,
      loadUserInfo: false,
      silentRequestTimeoutInSeconds: 10,
    };
  }

  function $(id) {
    return document.getElementById(id);
  }

  function describe(error) {
    if (!error) return "unknown error";
    if (error.error) return error.error + (error.error_description ? ": " + error.error_description : "");
    return error.message || String(error);
  }

  function log(text) {
    var list = $("log");
    if (!list) return;
    var item = document.createElement("li");
    item.textContent = new Date().toISOString().slice(11, 19) + " " + text;
    list.appendChild(item);
  }

  function status(state, text, error) {
    var element = $("status");
    if (element) {
      element.dataset.state = state;
      if (error) element.dataset.error = error;
      else delete element.dataset.error;
      element.textContent = text;
    }
    log(text);
  }

  function showUser(user) {
    $("profile").textContent = JSON.stringify(user ? user.profile : null, null, 2);
    $("access-token").textContent = user ? user.access_token : "";
    $("expires-at").textContent = user && user.expires_at
      ? new Date(user.expires_at * 1000).toISOString() : "—";
  }

  async function home(manager) {
    var query = new URLSearchParams(window.location.search);
    if (query.has("state") || query.has("error")) {
      // Back from the provider's end-session endpoint (post_logout_redirect_uri).
      try {
        await manager.signoutRedirectCallback();
        window.history.replaceState(null, "", window.location.pathname);
        showUser(null);
        status("signed-out", "Signed out at the provider");
      } catch (error) {
        status("error", "Sign-out failed: " + describe(error), error.error || "error");
      }
    } else {
      var user = await manager.getUser();
      showUser(user);
      if (user) status("signed-in", "Signed in as " + user.profile.sub);
      else status("anonymous", "Not signed in");
    }

    $("sign-in").addEventListener("click", function () {
      status("loading", "Redirecting to the provider…");
      manager.signinRedirect().catch(function (error) {
        status("error", "Sign-in failed: " + describe(error), error.error || "error");
      });
    });
    $("renew").addEventListener("click", async function () {
      status("loading", "Renewing silently…");
      try {
        var user = await manager.signinSilent();
        showUser(user);
        var count = $("renewals");
        count.textContent = String(Number(count.textContent) + 1);
        status("renewed", "Renewed silently for " + user.profile.sub);
      } catch (error) {
        status("renew-failed", "Silent renew failed: " + describe(error), error.error || "error");
      }
    });
    $("sign-out").addEventListener("click", function () {
      status("loading", "Signing out…");
      // With state data, oidc-client-ts sends `state` and checks it on the way back.
      manager.signoutRedirect({ state: { signedOutAt: Date.now() } }).catch(function (error) {
        status("error", "Sign-out failed: " + describe(error), error.error || "error");
      });
    });
  }

  async function callback(manager) {
    try {
      var user = await manager.signinRedirectCallback();
      status("signed-in", "Signed in as " + user.profile.sub);
      window.location.replace(new URL("index.html", here).href);
    } catch (error) {
      status("error", "Sign-in failed: " + describe(error), error.error || "error");
    }
  }

  async function main() {
    var page = document.body.dataset.page;
    try {
      var manager = new oidc.UserManager(settings());
      if (page === "silent-renew") {
        // Hands the response (code or error) to the parent window's signinSilent().
        await manager.signinSilentCallback();
      } else if (page === "callback") {
        await callback(manager);
      } else {
        await home(manager);
      }
    } catch (error) {
      status("error", "Error: " + describe(error), error.error || "error");
    }
  }

  main();
})();
