"""Limit rules, pure: the hourly window and UTC month (`window`) and the status headers
(`headers`). Tier defaults and their resolution are `config.TIER_DEFAULTS` and
`store.keys.account_limits`; counting lives in `aispendtrack.store.limits`."""
