"""The protocol's HTTP adapter: framework-free WSGI, the route table, body parsing and limits,
and the wire formats (status, headers, bodies)."""
