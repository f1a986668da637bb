"""The layout's promise: imports in model/ only go down the pipeline, and nothing imports in a circle.

Every import counts, also those inside functions (they still tie the modules together).
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "model"
# lower rank = lower layer; a module may import its own rank or below
RANKS = {"errors": 0, "procs": 0, "modelfile": 0, "audio": 1, "card": 2, "data": 2, "train": 3, "runs": 4,
         "detect": 5, "enroll": 6, "cli": 7, "__init__": 8, "__main__": 9}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1 and parts != ["model", "__init__"]:
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of the model modules ``path`` imports (``from x import y``: x.y if a module)."""
    mod = module_name(path, root)
    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    if path.name == "__init__.py" and mod == "model.__init__":
        package = ["model"]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(target + "." + alias.name)
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {f for f in found if f == "model" or f.startswith("model.")}


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the model modules it imports, for the tree under ``root``/model."""
    files = {module_name(p, root): p for p in (root / "model").rglob("*.py")}
    return {m: {i for i in imports_of(p, root) if i in files and i != m} for m, p in files.items()}


def layer(mod: str) -> str:
    return mod.split(".")[1] if "." in mod else "__init__"


def test_every_module_has_a_layer():
    assert {layer(m) for m in graph()} <= set(RANKS), "a new room in model/ needs a rank here"


def test_no_import_goes_up_the_layers():
    assert upward_imports(graph()) == []


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} -> {i}" for m, deps in g.items() for i in deps
                  if RANKS[layer(i)] > RANKS[layer(m)])


def circles(g: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    found = []

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(g[node]):
            if state.get(dep) == 1:
                found.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_circles():
    assert circles(graph()) == []


def test_the_checks_see_a_planted_upward_import_and_circle(tmp_path):
    """The checks above must be able to fail: plant a bad pair of modules in a scratch tree."""
    fake = tmp_path / "model"
    (fake / "audio").mkdir(parents=True)
    (fake / "detect").mkdir()
    (fake / "audio" / "features.py").write_text("def f():\n    from ..detect import stream\n")
    (fake / "detect" / "stream.py").write_text("from ..audio import features\n")
    g = graph(tmp_path)
    assert upward_imports(g) == ["model.audio.features -> model.detect.stream"]
    assert len(circles(g)) == 1
