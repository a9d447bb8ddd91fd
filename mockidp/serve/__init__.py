"""Serving: the server thread of the fixture and the Python API, the lean standard-library
HTTP server, granian and werkzeug for ``mockidp serve``, TLS.  The only place that opens
sockets or starts server threads."""
