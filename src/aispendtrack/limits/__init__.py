"""Limit rules, pure: the hourly window and UTC month (`window`), tier defaults
(`tiers`) and the status headers (`headers`). Counting lives in `aispendtrack.store.limits`."""
