"""The OAuth 2.0 / OpenID Connect endpoints, one module per endpoint or RFC mechanism, and the
grants (one module per grant type).  Nothing here knows about HTTP frameworks or sockets."""
