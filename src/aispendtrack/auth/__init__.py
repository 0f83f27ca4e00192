"""Who a request is: the key header's rules and a key's standing, shared by the proxy and
`serve` (pure: no mitmproxy, no database)."""
