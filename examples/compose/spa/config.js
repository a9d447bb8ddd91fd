/* Where the app finds the provider and the API.  The issuer is the URL the BROWSER uses:
 * http://localhost:8080 is mockidp's published port, and mockidp is told the same URL
 * (MOCKIDP_PUBLIC_URL in docker-compose.yml), so the tokens' iss is this URL too.  The API is
 * on this app's own origin: nginx passes /api/ on to the api container. */
window.ORDERS_SPA = {
  issuer: "http://localhost:8080/default",
  client_id: "spa",
  api: "/api/me",
};
