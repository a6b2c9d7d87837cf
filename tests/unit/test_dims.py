"""Symbolic dims: canonical forms of products and derived expressions, evaluation, binding, rendering."""

import itertools

import pytest

from converter.bundle import expr as expr_lang
from converter.ir import dims


@pytest.mark.parametrize("dim, canonical", [
    (6, 6),
    ("batch*time", "batch*time"),
    ("time*4*batch", "4*batch*time"),
    ("batch*0", 0),
    ("(time+0-3)/1+1", "time-2"),
    ("-2+time", "time-2"),
    ("time-2+2", "time"),
    ("time+2+3+time", "2*time+5"),
    ("(time-3)/2+1", "(time-3)/2+1"),
    ("(time - 3) / 2 + 1", "(time-3)/2+1"),
    ("(4+2)/3*time", "2*time"),
    ("(time-2)/2*batch", "((time-2)/2)*batch"),
    ("max(time-1,0)", "max(0,time-1)"),
    ("min(0,time-1)", "min(0,time-1)"),
    ("cdiv(time,2)", "cdiv(time,2)"),
    ("2-time", "2-time"),
])
def test_canonical_forms(dim, canonical):
    assert dims.normalize(dim) == canonical
    assert dims.normalize(canonical) == canonical      # printing is a fixed point


def test_products_stay_products():
    assert dims.mul("batch", "time") == "batch*time"
    assert dims.mul("batch", 4, "time") == "4*batch*time"
    assert dims.size(("batch", "time", 3)) == "3*batch*time"
    assert dims.add("batch", 0) == "batch"
    assert dims.add(2, 3) == 5


def test_arithmetic_on_derived_dims():
    assert dims.mul("time-2", "batch") == "batch*time-2*batch"
    assert dims.mul("(time-3)/2+1", 4) == "4*((time-3)/2)+4"
    assert dims.add("time", 3, "time-1") == "2*time+2"
    assert dims.is_static("time-time+3") and not dims.is_static("time-2")
    assert dims.symbols("max(0,time-batch)") == ["batch", "time"]
    assert dims.symbols("batch*batch") == ["batch", "batch"]


def test_evaluate_matches_python_arithmetic():
    for t, b in itertools.product(range(3, 12), (1, 2)):
        env = {"time": t, "batch": b}
        assert dims.evaluate("(time-3)/2+1", env) == (t - 3) // 2 + 1
        assert dims.evaluate(dims.mul("(time-3)/2+1", "batch"), env) == ((t - 3) // 2 + 1) * b
        assert dims.evaluate("max(0,time-5)", env) == max(0, t - 5)
        assert dims.evaluate("cdiv(time,4)", env) == -(-t // 4)
    with pytest.raises(KeyError, match="'time' is not bound"):
        dims.evaluate("time-2", {"batch": 1})
    with pytest.raises(ValueError, match="bad dimension"):
        dims.normalize("time-")


def test_bind_only_products_introduce_symbols():
    bindings = {}
    dims.bind(("batch", "time"), (2, 9), bindings, "input x")
    assert bindings == {"batch": 2, "time": 9}
    dims.bind(("batch", "(time-3)/2+1"), (2, 4), bindings, "output y")
    with pytest.raises(ValueError, match="expected shape"):
        dims.bind(("batch", "time-2"), (2, 9), bindings, "output y")
    with pytest.raises(ValueError, match="unbound symbols"):
        dims.bind(("batch", "len-2"), (2, 9), {}, "input z")


def _c_like(text: str) -> str:
    """C/GLSL/WGSL integer syntax back in the bundle language (all operands are non-negative here)."""
    return text.replace("s_", "")


@pytest.mark.parametrize("lang", ["c", "glsl", "wgsl"])
def test_render_products_unchanged(lang):
    sym = "s_{}".format
    assert dims.render("batch*time", sym, lang) == "(s_batch*s_time)"
    assert dims.render("batch", sym, lang) == "s_batch"
    assert dims.render(7, sym, lang) == "7"


def test_render_expressions_per_language():
    sym = "s_{}".format
    assert dims.render("(time-3)/2+1", sym, "c") == "(((s_time-3)/2)+1)"
    assert dims.render("max(0,time-5)", sym, "c") == "(0>(s_time-5)?0:(s_time-5))"
    assert dims.render("max(0,time-5)", sym, "glsl") == "max(0,(s_time-5))"
    assert dims.render("min(0,time-5)", sym, "wgsl") == "min(0,(s_time-5))"
    assert dims.render("cdiv(time,4)", sym, "wgsl") == "((s_time+4-1)/4)"
    with pytest.raises(ValueError, match="unknown render language"):
        dims.render("time", sym, "hlsl")


def test_rendered_expressions_evaluate_like_the_dims():
    # the GLSL/WGSL forms use only + - * / ( ) max min, which the bundle language also has
    for dim in ("(time-3)/2+1", "max(0,time-5)", "cdiv(time,4)*batch", "2*time-2*batch+7"):
        for lang in ("glsl", "wgsl"):
            text = _c_like(dims.render(dim, "s_{}".format, lang))
            for t in range(5, 9):
                env = {"time": t, "batch": 2}
                assert expr_lang.evaluate(text, env) == dims.evaluate(dim, env), (dim, lang, t)
