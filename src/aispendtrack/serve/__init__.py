"""The account plane: `aispendtrack serve`, an HTTP API for key holders on the proxy's database.

A separate process from the proxy (its hot path never waits on this one). FastAPI's
"bigger applications" layout: `app.create_app` wires one router per resource
(`routers/`), authentication and permissions are dependencies (`deps`), response shapes
are pydantic models (`models`), and routes call the same store and view functions the CLI
calls.
"""
