"""Batches (OpenAI's and Anthropic's; proxy/batches.py): a batch's results downloads are
metered, the batch objects and input files pass. Tried before the call families: a results
path ends like no call path, but `/v1/messages/batches` would otherwise read as Messages."""

from __future__ import annotations

import re

from aispendtrack.families.base import Family, ProviderHint

# a results download's paths; group 1 is the file or batch id (`proxy.batches.batch_key`)
RESULTS_PATHS = (re.compile(r"/files/([^/]+)/content/?$"), re.compile(r"/messages/batches/([^/]+)/results/?$"))
FAMILIES = (
    Family("batch", RESULTS_PATHS, 20),
    Family("batches", (re.compile(r"/batches(/[^/]+(/cancel)?)?/?$"),), 22),
    # a batch's input file: uploaded, listed, deleted
    Family("files", (re.compile(r"/v1/files(/[^/]+)?/?$"),), 23),
)
HINTS = (ProviderHint("/messages/batches", "anthropic"),)
