#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""http_fetch.py urllib|requests URL: GET URL the library's default way (no
timeout: plain blocking reads) and print the body's sha256 and length."""
import hashlib
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
if sys.argv[1] == "urllib":
    import urllib.request

    with urllib.request.urlopen(sys.argv[2]) as r:
        body = r.read()
elif sys.argv[1] == "requests":
    import requests

    r = requests.get(sys.argv[2])
    r.raise_for_status()
    body = r.content
else:
    sys.exit(__doc__)
print(hashlib.sha256(body).hexdigest(), len(body))
