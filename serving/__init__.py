"""Serving: engine launchers (serving.engines) and the OpenAI-compatible gateway (serving.gateway)."""
