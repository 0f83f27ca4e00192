"""Development tooling: benchmark harness and synthetic ledgers (not shipped)."""
