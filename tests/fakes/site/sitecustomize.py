"""Test-only: with ZAPGATE_TEST_FAKE_WHATSMEOW=<dir> and this folder on PYTHONPATH, a process that
imports neonize gets the shared fake of its Go library (tests/fakes/whatsmeow.py) instead of the
real one. Nothing in the running system sets either; the e2e tests do."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

TARGET = "neonize.aioze.client"


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, for fakes
            from fakes.whatsmeow import SharedFakeWhatsmeow

            module.gocode = SharedFakeWhatsmeow(Path(os.environ["ZAPGATE_TEST_FAKE_WHATSMEOW"]))

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if os.environ.get("ZAPGATE_TEST_FAKE_WHATSMEOW"):
    import importlib.util

    sys.meta_path.insert(0, _PatchAfterImport())
