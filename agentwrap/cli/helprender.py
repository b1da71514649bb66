"""typer's Rich help renderer, loaded without the two Rich modules agentwrap's help never uses.

typer draws help and usage errors with `typer.rich_utils`, which imports `rich.markdown`
(with markdown-it) and `rich.traceback` (with rich.pretty) at its top: about half of what
`agentwrap --help` loads. agentwrap's help is written in Rich markup (`rich_markup_mode =
"rich"`), so Markdown is never drawn, and a traceback is drawn only when a command fails
with an exception. `defer_unused_rich` makes the renderer load with a stand-in for each of
the two classes, which loads its real module the first time it is used: the help looks the
same, a failing command's traceback too.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

RENDERER = "typer.rich_utils"
# (module, class) pairs the renderer imports at its top and uses only in rare cases.
DEFERRED = (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback"))


class _Deferred(type):
    """A stand-in class: calling it, or any attribute of it, loads and uses the real one."""

    _module: str

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls.real(), name)

    def real(cls) -> type:
        """The class this one stands for, its module loaded now if it was not yet."""
        return getattr(importlib.import_module(cls._module), cls.__name__)


def _stand_in_module(module: str, name: str) -> ModuleType:
    stand_in = ModuleType(module)
    setattr(stand_in, name, _Deferred(name, (), {"_module": module, "__module__": module}))
    return stand_in


# The finder and loader are the import system's protocols, not its ABCs: importlib.abc
# would load importlib.resources and tempfile for nothing.
class _RendererLoader:
    """Runs the renderer's module with the stand-ins in place of the deferred modules, and
    takes them out again, so that any later import of those modules loads the real ones."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        placed = {
            name: _stand_in_module(name, cls) for name, cls in DEFERRED if name not in sys.modules
        }
        sys.modules.update(placed)
        try:
            self.loader.exec_module(module)
        finally:
            for name, stand_in in placed.items():
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]


class _RendererFinder:
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != RENDERER:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = cast("Loader", _RendererLoader(spec.loader))
        return spec


def defer_unused_rich() -> None:
    """From now on, typer's help renderer loads without rich.markdown and rich.traceback
    (each loads when first used). Does nothing once the renderer has loaded."""
    if RENDERER in sys.modules or any(isinstance(f, _RendererFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _RendererFinder())
