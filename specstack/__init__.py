"""specstack: adapt an open LLM to Russian, train an EAGLE-3 draft, serve it speculatively, load-test it."""

__version__ = "0.1.0"
