"""Configuration is passed in, not fetched: `get_settings()` is called only at the platform's edges,
where a process or a run starts; everything below takes `settings` as an argument, or, inside
Dagster's assets, checks and sensors, reads it from the `warehouse` resource the definitions build."""

import ast
from pathlib import Path

import finefinance_platform

PACKAGE = Path(finefinance_platform.__file__).parent

# module -> why it may read the settings itself
EDGES = {
    "finefinance_platform.settings": "defines get_settings()",
    "finefinance_platform.cli": "the `finefinance` command: the library log and the home's repair before any command",
    "finefinance_platform.definitions": "the Dagster code location: read once when it loads, passed to the factories",
    "finefinance_platform.dashboards.common": "the Streamlit pages' entry: each page runs as a script, with no caller",
    "finefinance_platform.benchmark.steps": "one process per benchmark step (`python -m`), under the harness's home",
    # each room's commands: a command is where a process starts
    **{
        f"finefinance_platform.{room}.cli": "the room's commands"
        for room in (
            "access",
            "api",
            "benchmark",
            "dashboards",
            "identity",
            "production",
            "runs",
            "source",
            "statements",
        )
    },
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, ast.parse(path.read_text(), filename=str(path))


def _fetches(node: ast.AST) -> list[int]:
    return [
        call.lineno
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and (
            (isinstance(call.func, ast.Name) and call.func.id == "get_settings")
            or (isinstance(call.func, ast.Attribute) and call.func.attr == "get_settings")
        )
    ]


def test_the_settings_are_read_only_at_the_edges():
    fetched = {f"{name}:{line}" for name, tree in _modules() if name not in EDGES for line in _fetches(tree)}
    assert not fetched, f"get_settings() outside the edges (take `settings` as an argument): {sorted(fetched)}"


def test_a_function_given_the_settings_never_fetches_them_again():
    again = set()
    for name, tree in _modules():
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = function.args
                names = {a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)}
                if "settings" in names:
                    again |= {f"{name}.{function.name}:{line}" for line in _fetches(function)}
    assert not again, f"these functions take `settings` and still call get_settings(): {sorted(again)}"


def test_every_edge_named_here_exists():
    assert set(EDGES) <= {name for name, _ in _modules()}
