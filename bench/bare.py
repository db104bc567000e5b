"""The ceiling of the gateway benchmarks: a bare Litestar JSON POST, served as the gateway is served.

``python bench/bare.py PORT``
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from litestar import Litestar, post

from zapgate.gateway.__main__ import SERVER_OPTIONS


@post("/echo", status_code=202)
async def echo(data: dict[str, Any]) -> dict[str, Any]:
    """Parse the JSON body and answer with a small JSON document, like an accepted send."""
    return {"id": "01JBENCHBENCHBENCHBENCHBEN", "status": "queued", "fields": len(data)}


def main() -> None:
    """Serve on the given port with the gateway's uvicorn settings."""
    config = uvicorn.Config(
        Litestar([echo], debug=False), host="127.0.0.1", port=int(sys.argv[1]), **SERVER_OPTIONS
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
