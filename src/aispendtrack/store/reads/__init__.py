"""The reads behind the views: report groups, daily sums, the export stream, the latest
calls and usage windows — each a function of a `Conn` returning typed rows
(`reads.rows`), exposed as `SqlStore` methods.

None of them scans the ledger beyond what a question needs: whole days come from the
daily sums (`daily`, kept in the ledger writer's own transaction), the ledger is read only
for partial days at a period's edges, for the dimensions the sums do not keep (provider,
status, outcome, hour, minute) and for a key or hint filter.
"""
