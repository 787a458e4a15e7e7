"""What the image's entrypoint asks of AWS itself: the address of this ECS task.

Run as `python -m taskoverflow.aws`: prints the addresses, comma-separated.
"""

import json
import logging
import os
import sys
import urllib.request

logger = logging.getLogger(__name__)


def ecs_task_addresses(metadata_uri: str, *, timeout: float = 2.0) -> list[str]:
    """The private IPv4 addresses of this container, from ECS's metadata endpoint.

    Empty, with a warning, when the endpoint does not answer: the service still
    starts, and the load balancer reports the task unhealthy rather than nothing
    starting at all.
    """
    try:
        with urllib.request.urlopen(metadata_uri, timeout=timeout) as response:
            metadata = json.load(response)
    except (OSError, ValueError) as error:
        logger.warning("ECS task metadata unreadable at %s: %s", metadata_uri, error)
        return []
    return [
        address
        for network in metadata.get("Networks") or []
        for address in network.get("IPv4Addresses") or []
    ]


def main() -> int:
    logging.basicConfig(format="%(name)s: %(message)s")
    uri = os.environ.get("ECS_CONTAINER_METADATA_URI_V4", "")
    print(",".join(ecs_task_addresses(uri)) if uri else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
