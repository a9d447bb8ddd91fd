"""The bottom layer: errors, the clock, plain records and outcomes, settings, stores and the
journal.  Imports nothing else of mockidp; plain Python (no Flask, no sockets, no threads)."""
