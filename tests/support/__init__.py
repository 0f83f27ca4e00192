"""Helpers shared by test modules (harnesses, sample data, reference models).

Not collected (no `test_*` module here) and imported as `support.<module>`: `tests/` is on
pytest's `pythonpath`. A test module never imports another test module; fixtures live in
the nearest `conftest.py`, everything else that is shared lives here."""
