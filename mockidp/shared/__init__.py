"""State shared by several mockidp processes through Redis (``--store redis://...``): what a
request may need from another process (codes, refresh families, sessions, replay caches,
clients and users added at run time, rules and their fire counts, the clock, the journal, the
signing keys).  The in-memory stores of `mockidp.core` stay the default; nothing above this
layer learns which store it runs on.  ``redis`` is imported here only."""
