"""The provider-key vault's own parts, without the database: the master keys and the AEAD
(`crypto.py`), where the master key comes from (`keyfile.py`)."""
