"""JOSE and tokens (RFC 7515, 7517, 7519): keys, the signer, the claims pipeline, the
bad-token catalogue and token inspection.  Imports only `mockidp.core`."""
