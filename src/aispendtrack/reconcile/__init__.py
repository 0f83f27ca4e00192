"""Reconciliation: the ledger (what the gateway metered) against the provider's own bill (issue 26)."""
