"""The package follows the picture in docs/design.md: a module imports only modules at
its own level or below (any import, at module level or inside a function)."""

import ast
import pathlib

import cnnsim

ROOT = pathlib.Path(cnnsim.__file__).parent

# lowest first; docs/design.md "Layers of the house"
LEVELS = {
    "config": 0,
    "geometry": 0,
    "_atomic": 0,
    "typing": 0,
    "_lock": 0,
    "_memory": 0,
    "_npz": 0,
    "_text": 0,  # file locks, memory estimates, checked
    # npz reading, safe names
    "kernels": 1,
    "functional": 2,
    "testing": 2,
    "graph": 3,
    "arithmetic": 3,  # the lecture's arithmetic facts and texts (geometry, pools)
    "layers": 4,
    "models": 5,
    "display": 6,  # tables of models and traces (Jupyter); engine's _repr_html_ uses it
    "engine": 7,
    "interop": 8,
    "data": 9,
    "train": 9,
    "samples": 9,
    "experiments": 10,
    "plotting": 11,
    "explorer": 11,  # presentation: figures and the HTML explorer
    "bench": 12,
    "cli": 13,
}
# Known exceptions, each with its reason:
ALLOWED = {
    "cnnsim/layers/containers.py": "net.summary()/_repr_html_ draw the network's table lazily, a "
    "notebook convenience (display sits above layers)",
    "cnnsim/engine/trace.py": "Trace.explorer()/show() open the HTML explorer lazily, a "
    "notebook convenience (the explorer itself sits above engine)",
    "cnnsim/config.py": "set_target asks kernels.cuda_available() lazily",
}


def _imports():
    """(importing top-level package, imported top-level package, file, line) of every
    ``cnnsim`` import; the package root (``cnnsim/__init__``: to_host, Input, Model) is
    the façade and not a level."""
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT.parent).with_suffix("").parts
        mod = rel[:-1] if rel[-1] == "__init__" else rel
        pkg = mod if f.name == "__init__.py" else mod[:-1]
        src = mod[1] if len(mod) > 1 else None
        for node in ast.walk(ast.parse(f.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = list(pkg[: len(pkg) - node.level + 1])
                    if node.module:
                        targets = [base + node.module.split(".")]
                    else:
                        targets = [base + [a.name] for a in node.names]
                elif node.module and node.module.split(".")[0] == "cnnsim":
                    targets = [node.module.split(".")]
            elif isinstance(node, ast.Import):
                targets = [
                    a.name.split(".") for a in node.names if a.name.split(".")[0] == "cnnsim"
                ]
            for t in targets:
                if src is not None and len(t) > 1:
                    yield src, t[1], f.relative_to(ROOT.parent), node.lineno


def test_every_package_is_in_the_picture():
    tops = {
        p.stem if p.is_file() else p.name
        for p in ROOT.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__")
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    missing = sorted(tops - set(LEVELS))
    assert not missing, f"add {missing} to the picture in docs/design.md and to LEVELS here"


def test_no_module_imports_one_above_it():
    bad = [
        f"{f}:{line}: {src} imports {dst}"
        for src, dst, f, line in _imports()
        if src != dst
        and dst in LEVELS
        and src in LEVELS
        and LEVELS[dst] > LEVELS[src]
        and str(f) not in ALLOWED
    ]
    assert not bad, "\n".join(bad)


def test_graph_knows_no_layer_class():
    assert not [d for s, d, _, _ in _imports() if s == "graph" and d not in ("functional",)]
