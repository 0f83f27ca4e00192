import pytest

from aispendtrack.store import schema
from aispendtrack.store.db import connect


@pytest.fixture()
def path(tmp_path):
    p = tmp_path / "shared.db"
    db = connect(p)
    schema.ensure_schema(db)
    db.conn.close()
    return p
