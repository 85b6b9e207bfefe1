"""The Hugging Face hub, reachable or not: say what is being loaded, and when the hub cannot be reached, switch to
offline mode at once (local caches only) instead of letting each library retry for a minute.

HF_HUB_OFFLINE=1 is honoured as usual; otherwise one TCP connection attempt to the hub's host decides, per process.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 3.0


def is_local(source: str) -> bool:
    return os.path.isdir(os.path.expanduser(source))


@functools.cache
def hub_online() -> bool:
    """False under HF_HUB_OFFLINE, or when the hub's host does not accept a connection within a few seconds."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def go_offline() -> None:
    """Make huggingface_hub, transformers and datasets use local caches only, from now on in this process."""
    import datasets.config
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True


def announce(what: str, source: str) -> bool:
    """Print what is loaded from where; go offline if the hub is unreachable. Returns whether it is online."""
    if is_local(source):
        return True
    online = hub_online()
    where = "the hub" if online else "the local cache (hub unreachable or HF_HUB_OFFLINE=1)"
    print(f"loading {what} {source} from {where}", file=sys.stderr, flush=True)
    if not online:
        go_offline()
    return online
