"""An account with a member of each role and a key each, next to a rival account: what the
account plane's permission tests act on."""

from aispendtrack.config import parse_config
from aispendtrack.store.keys import NewKey

# room for every key the tests make (the pro tier's default is 5)
CONFIG = parse_config({"tiers": {"pro": {"max_keys": 20}}})
ROLES = {"ada": "admin", "mia": "member", "vic": "viewer"}


def make_team(store) -> dict[str, NewKey]:
    """On `store` (an `open_store` store): account acme (pro) with the owner and members ada
    (admin), mia (member) and vic (viewer), a key each; account rival (pro) with its owner's
    key. {name: NewKey}."""
    store.create_account("acme", "pro")
    for name, role in ROLES.items():
        store.add_member("acme", name, role, CONFIG)
    made = {"owner": store.create_key("acme", CONFIG, name="owner")}
    made |= {name: store.create_key("acme", CONFIG, name=name, member=name) for name in ROLES}
    store.create_account("rival", "pro")
    made["rival"] = store.create_key("rival", CONFIG, name="rival")
    return made
