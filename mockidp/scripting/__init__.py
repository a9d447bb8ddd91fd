"""What makes mockidp a test double: rules (``match → effect, times``) and the dashboard's
view of the state.  Imports `mockidp.tokens` and `mockidp.core` only."""
