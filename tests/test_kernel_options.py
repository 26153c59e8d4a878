"""No kernel hard-codes numba options: every ``@njit``/``@jit`` in skxc/_kernels takes ``**NJIT``,
``**NJIT_NO_NRT`` (kernels that allocate nothing), ``**NJIT_EXACT`` (those without fast-math) or
``**NJIT_HELPER`` (helpers only kernels call) from _config.

STUMPY checks the same in CI; options written per kernel drift apart (one kernel
without ``cache`` or with a different ``fastmath`` set). A static check (AST),
so it also covers kernels no test calls.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KERNELS = Path(__file__).resolve().parent.parent / "skxc" / "_kernels"
JIT_NAMES = {"njit", "jit", "generated_jit", "vectorize", "guvectorize", "cfunc", "stencil"}


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _jit_decorators(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                if _name(target) in JIT_NAMES:
                    yield node.name, dec


def _problems(source: str) -> list[str]:
    problems = []
    for func, dec in _jit_decorators(ast.parse(source)):
        if not isinstance(dec, ast.Call):
            problems.append(f"{func}: bare @{_name(dec)} (use @njit(**NJIT))")
            continue
        options_from_config = [
            k
            for k in dec.keywords
            if k.arg is None and _name(k.value) in ("NJIT", "NJIT_NO_NRT", "NJIT_EXACT", "NJIT_HELPER")
        ]
        if len(dec.keywords) != 1 or not options_from_config or dec.args:
            problems.append(f"{func}: @{_name(dec.func)}({ast.unparse(dec)[len(_name(dec.func)) + 2 : -1]})")
    return problems


def test_kernel_files_exist():
    assert len(list(KERNELS.glob("*.py"))) >= 5


@pytest.mark.parametrize("path", sorted(KERNELS.glob("*.py")), ids=lambda p: p.name)
def test_kernels_take_options_from_config(path):
    assert _problems(path.read_text()) == []


def test_the_check_catches_hard_coded_options():
    bad = "from numba import njit\n@njit(cache=True)\ndef f(x):\n    return x\n@njit\ndef g(x):\n    return x\n"
    good = "@njit(**NJIT)\ndef f(x):\n    return x\n@njit(**NJIT_HELPER)\ndef g(x):\n    return x\n"
    good += "@njit(**NJIT_NO_NRT)\ndef h(x):\n    return x\n"
    assert len(_problems(bad)) == 2 and _problems(good) == []


def test_kernels_without_reference_counting_allocate_nothing():
    """Kernels under NJIT_NO_NRT (and helpers) call no NumPy allocator: numba refuses to compile one
    without NRT, which a kernel that no test calls would first show a user (a static check, as above)."""
    for path in KERNELS.glob("*.py"):
        tree = ast.parse(path.read_text())
        for func, dec in _jit_decorators(tree):
            if not isinstance(dec, ast.Call) or _name(dec.keywords[0].value) == "NJIT":
                continue
            node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == func)
            calls = {ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
            assert not calls & {"np.empty", "np.zeros", "np.ones", "np.full", "np.arange"}, (path.name, func)
