"""Secrets are compared in constant time: no `==`/`!=` on a token, a secret or a signature in
the services (a byte-by-byte comparison leaks how much of a guess was right)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
SECRET_WORDS = ("token", "secret", "signature", "password", "digest")


def _names(node: ast.AST) -> str:
    return " ".join(
        part
        for sub in ast.walk(node)
        for part in (
            getattr(sub, "id", None),
            getattr(sub, "attr", None),
            sub.value if isinstance(sub, ast.Constant) and isinstance(sub.value, str) else None,
        )
        if isinstance(part, str)
    ).lower()


def test_no_secret_is_compared_with_eq_or_ne() -> None:
    found = []
    for path in SERVICES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            sides = [node.left, *node.comparators]
            # Comparisons with a literal or a module constant (a public test card) hold no secret.
            if any(
                isinstance(s, ast.Constant) or (isinstance(s, ast.Name) and s.id.isupper())
                for s in sides
            ):
                continue
            if any(word in _names(s) for s in sides for word in SECRET_WORDS):
                found.append(f"{path.relative_to(SERVICES.parent)}:{node.lineno}")
    assert not found, f"compare these with secrets.compare_digest: {found}"
