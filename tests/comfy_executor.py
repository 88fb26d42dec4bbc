"""A small stand-in for ComfyUI's loader and executor, for tests without ComfyUI.

It loads a custom-node folder the way ComfyUI 0.3.64 does (nodes.py: module name from the
folder's full path with '.' as '_x_', relative imports working, the folder not on sys.path),
validates an API-format prompt the way execution.py does (required inputs, list combos,
INT/FLOAT ranges, link types with comma unions) and runs it, each node's FUNCTION called
with its inputs by name.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


class ValidationError(Exception):
    """What ComfyUI answers with HTTP 400 (prompt_outputs_failed_validation)."""


class ExecutionError(Exception):
    """A node raised; ``node_id`` and ``message`` are what ComfyUI's execution_error carries."""

    def __init__(self, node_id: str, error: BaseException) -> None:
        self.node_id, self.error, self.message = node_id, error, str(error)
        super().__init__(f"node {node_id}: {type(error).__name__}: {error}")


def load_pack(folder: Path) -> ModuleType:
    """Imports ``folder/__init__.py`` under the module name ComfyUI would give it."""
    name = str(folder).replace(".", "_x_")
    init = folder / "__init__.py"
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def types_match(received: str, expected: str) -> bool:
    """comfy_execution/validation.py: comma-separated unions must share a type."""
    if received == expected or "*" in (received, expected):
        return True
    return bool({t.strip() for t in received.split(",")} & {t.strip() for t in expected.split(",")})


class Executor:
    def __init__(self, *packs: dict[str, type]) -> None:
        self.classes: dict[str, type] = {}
        for mappings in packs:
            self.classes.update(mappings)

    def validate(self, prompt: dict[str, dict]) -> None:
        for node_id, node in prompt.items():
            cls = self.classes.get(node["class_type"])
            if cls is None:
                raise ValidationError(f"Cannot execute because node {node['class_type']} does not exist.")
            spec = cls.INPUT_TYPES()
            for section in ("required", "optional"):
                for name, declared in spec.get(section, {}).items():
                    if name not in node["inputs"]:
                        if section == "required":
                            raise ValidationError(f"node {node_id}: required input '{name}' is missing")
                        continue
                    self._check_value(node_id, name, declared, node["inputs"][name], prompt)

    def _check_value(self, node_id: str, name: str, declared: tuple, value: Any, prompt: dict) -> None:
        kind, options = declared[0], (declared[1] if len(declared) > 1 else {})
        if isinstance(value, list):  # a link: [source node id, output index]
            source = self.classes[prompt[value[0]]["class_type"]]
            received = source.RETURN_TYPES[value[1]]
            if isinstance(kind, str) and not types_match(received, kind):
                raise ValidationError(f"node {node_id}: input '{name}' wants {kind}, got {received}")
            return
        if isinstance(kind, list):
            if value not in kind:
                raise ValidationError(f"node {node_id}: value not in list: {name}: '{value}' not in {kind[:6]}...")
        elif kind == "BOOLEAN":
            if not isinstance(value, bool):
                raise ValidationError(f"node {node_id}: {name} must be true or false, not {value!r}")
        elif kind in ("INT", "FLOAT"):
            if "min" in options and value < options["min"] or "max" in options and value > options["max"]:
                raise ValidationError(f"node {node_id}: {name} {value} is outside [{options.get('min')}, "
                                      f"{options.get('max')}]")  # fmt: skip

    def run(self, prompt: dict[str, dict]) -> dict[str, tuple]:
        """Validates, then evaluates every node once; returns each node's outputs."""
        self.validate(prompt)
        results: dict[str, tuple] = {}
        for node_id in prompt:
            self._evaluate(node_id, prompt, results)
        return results

    def _evaluate(self, node_id: str, prompt: dict, results: dict) -> tuple:
        if node_id in results:
            return results[node_id]
        node = prompt[node_id]
        cls = self.classes[node["class_type"]]
        kwargs = {}
        for name, value in node["inputs"].items():
            kwargs[name] = self._evaluate(value[0], prompt, results)[value[1]] if isinstance(value, list) else value
        try:
            output = getattr(cls(), cls.FUNCTION)(**kwargs)
        except Exception as error:  # what execution.py turns into execution_error
            raise ExecutionError(node_id, error) from error
        results[node_id] = output["result"] if isinstance(output, dict) else output
        return results[node_id]
