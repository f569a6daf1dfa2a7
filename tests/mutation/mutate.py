"""A small mutation-testing runner for the pure modules (issue 14).

For each target (a module and the functions in it that are under test) it makes one-line
mutants from the AST — comparison boundaries and negations, arithmetic, and/or, booleans,
integer constants + 1, removed `not`, removed call statements — inside function bodies.
Each mutant is compiled and its functions' code objects are swapped into the live module
(so every `from module import f` sees the mutant), the target's unit tests run in this
same process (`pytest.main`, stopping at the first failure, with an alarm as timeout),
and the code is swapped back. A mutant is killed when the tests fail or time out.

Why home-made: mutmut 3 rewrites every function into trampolines in a `mutants/` copy
of the project and starts an interpreter per run; with this layout (flat top-level
packages) and a busy 2-core machine where starting pytest costs more than the unit tests
themselves, that was far too slow. Each mutant here is plain source, reproducible by hand
from the printed line.

    python -m tests.mutation.mutate [--only NAME] [--list]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import importlib
import inspect
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import pytest

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
    "tests/unit/test_tie_order.py",
)
CODEC_TESTS = ("tests/unit/test_wire_codec.py",)

TARGETS = (
    Target("sessionizer", "helpstream/workers/sessionizer.py", (), SESSIONIZER_TESTS),
    Target(
        "wire-codec",
        "helpstream/wire.py",
        (
            "encode_events",
            "decode_events",
            "click_to_wire",
            "click_from_wire",
            "support_to_wire",
            "_int",
            "_str",
            "support_from_wire",
        ),
        CODEC_TESTS,
    ),
    Target("events", "helpstream/events.py", ("PersonUpsert.version_key",), CODEC_TESTS),
    Target(
        "stream-keys",
        "helpstream/streams.py",
        ("stream_key", "dead_letter_key", "stats_key", "parse_id"),
        CODEC_TESTS,
    ),
    Target(
        "plain-clicks",
        "helpstream/api/plain_clicks.py",
        ("plain_clicks", "_plain_click"),
        ("tests/unit/test_plain_clicks.py",),
    ),
    Target(
        "ratelimit",
        "helpstream/api/ratelimit.py",
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
    """Nodes in the bodies of the named functions (or of every function), docstrings excluded.

    Only function bodies: decorators, defaults and module-level code run at import, which
    swapping code objects cannot reach.
    """

    def walk(node: ast.AST, prefix: str, in_body: bool) -> Iterator[tuple[ast.AST, str]]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            children: list[ast.AST] = list(node.body)
            in_body = True
        elif isinstance(node, ast.ClassDef):
            children = list(node.body)
        else:
            children = list(ast.iter_child_nodes(node))
        for child in children:
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{child.name}" if prefix else child.name
            elif in_body:
                yield child, name
            yield from walk(child, name, in_body)

    docstrings = {
        id(n.body[0])
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    for node, qualname in walk(tree, "", False):
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
            sites.append(
                (node, 0, f"{type(node.op).__name__} -> {SWAP_BINOP[type(node.op)].__name__}")
            )
        elif isinstance(node, ast.AugAssign) and type(node.op) in SWAP_BINOP:
            sites.append(
                (node, 0, f"{type(node.op).__name__}= -> {SWAP_BINOP[type(node.op)].__name__}=")
            )
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
    elif isinstance(node, ast.Constant) and isinstance(node.value, int):
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


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout("mutant timed out (an endless loop?)")


def _functions(namespace: dict[str, Any], module_name: str) -> Iterator[tuple[str, Any]]:
    """(qualified name, function) for every function and method defined in a module."""
    for name, obj in list(namespace.items()):
        if inspect.isfunction(obj) and obj.__module__ == module_name:
            yield name, obj
        elif inspect.isclass(obj) and obj.__module__ == module_name:
            for attr, member in vars(obj).items():
                if isinstance(member, (classmethod, staticmethod)):
                    member = member.__func__
                if isinstance(member, property):
                    for part, fn in (("fget", member.fget), ("fset", member.fset)):
                        if fn is not None:
                            yield f"{name}.{attr}.{part}", fn
                elif inspect.isfunction(member):
                    yield f"{name}.{attr}", member


def _swap_in(module: ModuleType, source: str) -> dict[str, CodeType]:
    """Put the code of ``source``'s functions into ``module``'s; returns the originals."""
    namespace: dict[str, Any] = {"__name__": module.__name__, "__file__": module.__file__}
    exec(compile(source, str(module.__file__), "exec"), namespace)
    fresh = dict(_functions(namespace, module.__name__))
    originals: dict[str, CodeType] = {}
    for qualname, fn in _functions(vars(module), module.__name__):
        if qualname in fresh and fresh[qualname].__code__ is not fn.__code__:
            originals[qualname] = fn.__code__
            fn.__code__ = fresh[qualname].__code__
    return originals


def _swap_back(module: ModuleType, originals: dict[str, CodeType]) -> None:
    for qualname, fn in _functions(vars(module), module.__name__):
        if qualname in originals:
            fn.__code__ = originals[qualname]


def _tests_pass(tests: tuple[str, ...], timeout: float) -> bool:
    args = [
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--hypothesis-seed=20260",
        "--no-header",
        "-o",
        "console_output_style=classic",
        *[str(ROOT / t) for t in tests],
    ]
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            code = pytest.main(args)
    except _Timeout:
        return False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return code == 0


def run(targets: list[Target], indices: set[int] | None = None) -> int:
    total = killed = 0
    for target in targets:
        module = importlib.import_module(target.path.removesuffix(".py").replace("/", "."))
        original = (ROOT / target.path).read_text()
        started = time.monotonic()
        if not _tests_pass(target.tests, timeout=1800):
            print(f"{target.name}: the tests fail without mutation; fix that first")
            return 2
        budget = 3 * (time.monotonic() - started) + 10
        found = [m for m in mutants(target) if indices is None or m.index in indices]
        alive = 0
        for mutant in found:
            originals = _swap_in(module, _mutate(original, target.scopes, mutant.index))
            try:
                survived = bool(originals) and _tests_pass(target.tests, timeout=budget)
            finally:
                _swap_back(module, originals)
            total += 1
            if survived:
                alive += 1
                print(
                    f"SURVIVED {target.name} #{mutant.index} {target.path}:{mutant.line}"
                    f" {mutant.description}",
                    flush=True,
                )
            else:
                killed += 1
        print(f"{target.name}: {len(found) - alive}/{len(found)} killed", flush=True)
    score = 100 * killed / total if total else 100.0
    print(f"TOTAL: {killed}/{total} killed ({score:.1f} %)", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="target name(s) to run")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--index", type=int, action="append", help="only these mutants (numbers from --list)"
    )
    args = parser.parse_args()
    targets = [t for t in TARGETS if not args.only or t.name in args.only]
    if args.list:
        for target in targets:
            for m in mutants(target):
                print(f"{target.name} #{m.index} {target.path}:{m.line} {m.description}")
        return 0
    return run(targets, set(args.index) if args.index else None)


if __name__ == "__main__":
    sys.exit(main())
