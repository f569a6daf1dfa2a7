"""A small mutation-testing runner for the pure modules (issue 14).

For each target (a module and the functions in it that are under test) it makes one-line
mutants from the AST — comparison boundaries and negations, arithmetic, and/or, booleans,
integer constants ± 1, removed `not`, removed call statements — writes each into a
scratch copy of the repository, runs the target's unit tests there (stopping at the first
failure) and counts the mutant killed when they fail or time out.

Why home-made: mutmut 3 rewrites every function of a module into trampolines in a
`mutants/` copy and needs its own runner hooks; this layout (flat top-level packages,
tests importing `workers...` and `api...`) and the hypothesis-heavy unit tests made that
slow and brittle. Here each mutant is plain source code, so a survivor can be
reproduced by hand with the printed line.

    python -m tests.mutation.mutate [--only NAME] [--list]
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    scopes: tuple[str, ...]  # qualified names of functions to mutate; () = the whole module
    tests: tuple[str, ...]


SESSIONIZER_TESTS = (  # fastest first: with -x most mutants die in the first second
    "tests/unit/test_sessionizer_rules.py",
    "tests/unit/test_oracle.py",
    "tests/unit/test_sessionizer_properties.py",
)
CODEC_TESTS = ("tests/unit/test_wire_codec.py",)

TARGETS = (
    Target("sessionizer", "workers/sessionizer.py", (), SESSIONIZER_TESTS),
    Target(
        "click-codec",
        "workers/clicks.py",
        ("wire_form", "ClickEvent.to_wire", "ClickEvent.from_wire"),
        CODEC_TESTS,
    ),
    Target(
        "support-codec",
        "workers/support.py",
        ("to_wire", "_int", "_str", "from_wire", "PersonUpsert.version_key"),
        CODEC_TESTS,
    ),
    Target(
        "streams-codec",
        "workers/streams.py",
        ("stream_key", "dead_letter_key", "stats_key", "encode_events", "decode_events",
         "parse_id"),
        CODEC_TESTS,
    ),
    Target(
        "ratelimit",
        "api/ratelimit.py",
        ("counter_key", "RateLimiter.hit", "RateLimiter.sync"),
        ("tests/unit/test_ratelimit.py",),
    ),
)

SWAP_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
SWAP_BINOP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
}


@dataclass(frozen=True)
class Mutant:
    target: Target
    index: int  # the index-th mutation site of the module, in walk order
    line: int
    description: str


def _scoped_nodes(tree: ast.Module, scopes: tuple[str, ...]) -> Iterator[ast.AST]:
    """Every node inside the named functions (or the whole module), docstrings excluded."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[ast.AST, str]]:
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{child.name}" if prefix else child.name
            yield child, name
            yield from walk(child, name)

    docstrings = {
        id(n.body[0])
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    for node, qualname in walk(tree, ""):
        if id(node) in docstrings:
            continue
        if not scopes or any(qualname == s or qualname.startswith(s + ".") for s in scopes):
            yield node


def _in_annotation(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            annotations.append(node.returns)
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for a in annotations:
            ids.update(id(n) for n in ast.walk(a))
    return ids


def _sites(tree: ast.Module, scopes: tuple[str, ...]) -> list[tuple[ast.AST, int, str]]:
    """(node, operand index, description) for every mutation the module admits."""
    skip = _in_annotation(tree)
    sites: list[tuple[ast.AST, int, str]] = []
    for node in _scoped_nodes(tree, scopes):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in SWAP_COMPARE:
                    new = SWAP_COMPARE[type(op)].__name__
                    sites.append((node, i, f"{type(op).__name__} -> {new}"))
        elif isinstance(node, ast.BinOp) and type(node.op) in SWAP_BINOP:
            sites.append((node, 0, f"{type(node.op).__name__} -> {SWAP_BINOP[type(node.op)].__name__}"))
        elif isinstance(node, ast.AugAssign) and type(node.op) in SWAP_BINOP:
            sites.append((node, 0, f"{type(node.op).__name__}= -> {SWAP_BINOP[type(node.op)].__name__}="))
        elif isinstance(node, ast.BoolOp):
            sites.append((node, 0, "and <-> or"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((node, 0, "drop not"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            sites.append((node, 0, f"{node.value} -> {not node.value}"))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            sites.append((node, 0, f"{node.value} -> {node.value + 1}"))
        elif isinstance(node, ast.Expr) and isinstance(node.value, (ast.Call, ast.Await)):
            sites.append((node, 0, "drop statement"))
    return sites


def _mutate(source: str, scopes: tuple[str, ...], index: int) -> str:
    tree = ast.parse(source)
    node, operand, _ = _sites(tree, scopes)[index]
    if isinstance(node, ast.Compare):
        node.ops[operand] = SWAP_COMPARE[type(node.ops[operand])]()
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        node.op = SWAP_BINOP[type(node.op)]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        _replace(tree, node, node.operand)
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        node.value = not node.value
    elif isinstance(node, ast.Constant):
        node.value = node.value + 1
    elif isinstance(node, ast.Expr):
        _replace(tree, node, ast.Pass())
    return ast.unparse(ast.fix_missing_locations(tree))


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, copy.copy(new))
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return


def mutants(target: Target) -> list[Mutant]:
    source = (ROOT / target.path).read_text()
    return [
        Mutant(target, i, getattr(node, "lineno", 0), description)
        for i, (node, _, description) in enumerate(_sites(ast.parse(source), target.scopes))
    ]


def _pytest(workdir: Path, tests: tuple[str, ...], timeout: float) -> str:
    """'passed', 'failed' or 'timeout' for the tests run in ``workdir``."""
    env = {**os.environ, "PYTHONPATH": str(workdir), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
               "-p", "no:randomly", "--hypothesis-seed=20260", *tests]
    try:
        result = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return "passed" if result.returncode == 0 else "failed"  # 2: the mutant broke an import


def run(targets: list[Target]) -> int:
    with tempfile.TemporaryDirectory(prefix="helpstream-mutants-") as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(
            ROOT, work, ignore=shutil.ignore_patterns(".git", ".hypothesis", "__pycache__",
                                                      ".venv", ".helpstream", "*.egg-info")
        )
        total = killed = 0
        survivors: list[Mutant] = []
        for target in targets:
            original = (ROOT / target.path).read_text()
            started = time.monotonic()
            if _pytest(work, target.tests, timeout=600) != "passed":
                print(f"{target.name}: the tests fail without mutation; fix that first")
                return 2
            budget = 3 * (time.monotonic() - started) + 10
            found = mutants(target)
            for mutant in found:
                (work / target.path).write_text(_mutate(original, target.scopes, mutant.index))
                verdict = _pytest(work, target.tests, timeout=budget)
                total += 1
                if verdict == "passed":
                    survivors.append(mutant)
                    print(f"SURVIVED {target.path}:{mutant.line} {mutant.description}", flush=True)
                else:
                    killed += 1
            (work / target.path).write_text(original)
            alive = sum(1 for s in survivors if s.target is target)
            print(f"{target.name}: {len(found) - alive}/{len(found)} killed", flush=True)
        score = 100 * killed / total if total else 100.0
        print(f"TOTAL: {killed}/{total} killed ({score:.1f} %), {len(survivors)} survived")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="target name(s) to run")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    args = parser.parse_args()
    targets = [t for t in TARGETS if not args.only or t.name in args.only]
    if args.list:
        for target in targets:
            for m in mutants(target):
                print(f"{target.name} #{m.index} {target.path}:{m.line} {m.description}")
        return 0
    return run(targets)


if __name__ == "__main__":
    sys.exit(main())
