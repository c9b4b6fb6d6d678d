"""The shipped recipes (``proxynas/study/recipes/*.toml``) and how a command finds a study by name or path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from proxynas.errors import ProxynasError, UnknownNameError
from proxynas.study.spec import StudySpec
from proxynas.study.validate import parse_study, read_study

SUFFIX = ".toml"


def _folder() -> Path:
    return Path(str(resources.files("proxynas.study") / "recipes"))


def recipe_names() -> list[str]:
    return sorted(p.name[: -len(SUFFIX)] for p in _folder().glob(f"*{SUFFIX}"))


def recipe_text(name: str) -> str:
    """The recipe's TOML text, comments and all."""
    if name not in recipe_names():
        raise UnknownNameError("study recipe", name, recipe_names())
    return (_folder() / f"{name}{SUFFIX}").read_text(encoding="utf-8")


def load_study(file_or_recipe: str) -> StudySpec:
    """A study file's path, or the name of a shipped recipe (``proxynas study list``)."""
    path = Path(file_or_recipe).expanduser()
    if path.is_file():
        return read_study(path)
    if path.suffix == SUFFIX or path.parent != Path("."):
        raise ProxynasError(f"study file {path} does not exist",
                            f"give an existing .toml file or a recipe: {', '.join(recipe_names())}")
    text = recipe_text(file_or_recipe)
    return parse_study(text, label=f"recipe {file_or_recipe}", path=_folder() / f"{file_or_recipe}{SUFFIX}")
