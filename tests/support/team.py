"""An account with a member of each role and a key each, next to a rival account: what the
account plane's permission tests act on."""

from aispendtrack.config import parse_config
from aispendtrack.store import keys, members

# room for every key the tests make (the pro tier's default is 5)
CONFIG = parse_config({"tiers": {"pro": {"max_keys": 20}}})
ROLES = {"ada": "admin", "mia": "member", "vic": "viewer"}


def make_team(database) -> dict[str, keys.NewKey]:
    """Account acme (pro): the owner and members ada (admin), mia (member) and vic (viewer),
    a key each; account rival (pro) with its owner's key. {name: keys.NewKey}."""
    keys.create_account(database, "acme", "pro")
    for name, role in ROLES.items():
        members.add_member(database, "acme", name, role, CONFIG)
    made = {"owner": keys.create_key(database, "acme", CONFIG, name="owner")}
    made |= {name: keys.create_key(database, "acme", CONFIG, name=name, member=name) for name in ROLES}
    keys.create_account(database, "rival", "pro")
    made["rival"] = keys.create_key(database, "rival", CONFIG, name="rival")
    return made
