"""Serving: an OpenAI-compatible HTTP API (reasoning returned separately) and a chat page over a
continuous batcher. `r1kit.serve.server.serve` runs it; `r1kit.serve.app.create_app` builds the app.

Importing this package is cheap: fastapi, uvicorn and torch load in the submodules.
"""
