"""Where the CLI connects and with which key, and the REST calls with their errors."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_API = 1
"""The API answered with an error (its words are printed)."""
EXIT_UNREACHABLE = 3
"""The API could not be reached."""


class CliError(Exception):
    """An error to print in words, with the process's exit code."""

    def __init__(self, message: str, code: int = EXIT_API) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def config_path() -> Path:
    """The profile file: ``$ZAPGATE_CONFIG``, else ``~/.config/zapgate/config.toml``."""
    found = os.environ.get("ZAPGATE_CONFIG")
    if found:
        return Path(found)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "zapgate" / "config.toml"


def profile(name: str | None) -> dict[str, str]:
    """A profile of the file (``[profiles.<name>]`` with ``url`` and ``key``); {} when absent."""
    path = config_path()
    if not path.exists():
        if name:
            raise CliError(f"profile {name!r} not found: {path} does not exist")
        return {}
    try:
        profiles = tomllib.loads(path.read_text()).get("profiles", {})
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path} is not valid TOML: {exc}") from None
    chosen = name or "default"
    if chosen not in profiles:
        if name:
            raise CliError(f"profile {name!r} not found in {path}")
        return {}
    return {k: str(v) for k, v in profiles[chosen].items()}


@dataclass(frozen=True)
class Target:
    """The gateway's URL and the API key: flags, then the environment, then the profile."""

    url: str
    key: str | None

    @classmethod
    def resolve(cls, url: str | None, key: str | None, profile_name: str | None) -> Target:
        """Flags win over ``ZAPGATE_URL`` / ``ZAPGATE_API_KEY``, which win over the profile."""
        chosen = profile(profile_name or os.environ.get("ZAPGATE_PROFILE"))
        return cls(
            url=(url or os.environ.get("ZAPGATE_URL") or chosen.get("url") or DEFAULT_URL).rstrip("/"),
            key=key or os.environ.get("ZAPGATE_API_KEY") or chosen.get("key"),
        )


def explain(response: httpx.Response) -> str:
    """The API's error body in words: ``status code: message`` and each detail."""
    try:
        error = response.json()["error"]
        words = f"{response.status_code} {error['code']}: {error['message']}"
        details = error.get("details")
        if isinstance(details, list):
            words += "".join(
                f"\n  - {d.get('key') or '?'}: {d.get('message')}" for d in details if isinstance(d, dict)
            )
        elif isinstance(details, dict):
            words += "\n  " + ", ".join(f"{k}={v}" for k, v in details.items())
        return words
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text[:300] or response.reason_phrase}"


class Api:
    """The REST API of one gateway."""

    def __init__(self, target: Target, timeout: float = 15.0) -> None:
        self.target = target
        headers = {"X-Api-Key": target.key} if target.key else {}
        self.http = httpx.Client(base_url=target.url, headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer (None for 204), or CliError with the API's words."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach {self.target.url}: {exc}", EXIT_UNREACHABLE) from None
        if response.status_code >= 400:
            raise CliError(explain(response))
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET."""
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST."""
        return self.call("POST", path, **kwargs)

    def delete(self, path: str) -> Any:
        """DELETE."""
        return self.call("DELETE", path)
