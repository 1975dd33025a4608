"""The one model-name parser: bayesdiff.models.registry (from_name, from_spec)."""

import pytest

import bayesdiff as bd
from bayesdiff.errors import ModelError
from bayesdiff.models.registry import MODEL_NAMES, available, from_name, from_spec


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_listed_name_builds_its_model(name):
    m = from_name(name)
    assert isinstance(m, bd.models.Model)
    kind, *opts = name.split("+")
    expected = {"switch2": "switching2", "switch3": "switching3"}.get(kind, kind)
    assert m.name == "+".join([expected, *opts])


@pytest.mark.parametrize(
    ("name", "cls", "kwargs"),
    [
        ("bm", bd.models.Brownian, {}),
        ("brownian+noise", bd.models.Brownian, {"noise": True}),
        ("BM+Drift", bd.models.Brownian, {"drift": True}),
        ("bm+drift+noise", bd.models.Brownian, {"drift": True, "noise": True}),
        ("fbm+noise+drift", bd.models.FBM, {"drift": True, "noise": True}),
        (" fbm + noise ", bd.models.FBM, {"noise": True}),
        ("fbm+", bd.models.FBM, {}),  # from_name ignored empty parts and still does
        ("ou", bd.models.Langevin, {}),
        ("langevin+drift+noise", bd.models.Langevin, {"drift": True, "noise": True}),
        ("levy", bd.models.LevyWalk, {}),
        ("levywalk", bd.models.LevyWalk, {}),
        ("lw", bd.models.LevyWalk, {}),
        ("switch", bd.models.Switching, {"n_states": 2}),
        ("switching", bd.models.Switching, {"n_states": 2}),
        ("switch1", bd.models.Switching, {"n_states": 1}),
        ("switching3", bd.models.Switching, {"n_states": 3}),
        ("switch6+drift+noise", bd.models.Switching, {"n_states": 6, "drift": True, "noise": True}),
    ],
)
def test_from_name_accepts_what_both_old_parsers_accepted(name, cls, kwargs):
    assert from_name(name) == cls(**kwargs)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("gbm", r"unknown model 'gbm'; known: bm, bm\+drift"),
        ("", "empty model name; known: bm"),
        ("+", "empty model name"),
        ("fbm+fast", r"model 'fbm\+fast': unknown option\(s\) \['fast'\]; FBM takes"),
        ("levy+noise", r"model 'levy\+noise': unknown option\(s\) \['noise'\]; LevyWalk takes no"),
        ("fbm+noise+noise", r"model 'fbm\+noise\+noise': option\(s\) \['noise'\] given twice"),
        ("switch0", "a switching model has 1 to 6 states"),
        ("switch7", "a switching model has 1 to 6 states"),
        ("switchx", "unknown model 'switchx'"),
        ("switch-2", "unknown model 'switch-2'"),
        ("bm,fbm", "unknown model 'bm,fbm'"),
    ],
)
def test_from_name_rejects_with_model_error(name, match):
    with pytest.raises(ModelError, match=match):
        from_name(name)


def test_from_name_needs_a_string():
    with pytest.raises(TypeError, match="string"):
        from_name(None)


def test_from_spec_keeps_order_and_names_as_given():
    ms = from_spec("bm, fbm+noise, fbm+noise+drift ,switch2,levy,langevin+noise,switch")
    assert list(ms) == [
        "bm", "fbm+noise", "fbm+noise+drift", "switch2", "levy", "langevin+noise", "switch"
    ]  # fmt: skip
    assert ms["fbm+noise+drift"].name == "fbm+drift+noise"
    assert ms["switch2"] == ms["switch"] == bd.models.Switching(n_states=2)
    assert from_spec(["bm", " fbm ", ""]) == {"bm": bd.models.Brownian(), "fbm": bd.models.FBM()}
    assert from_spec("fbm,,bm,") == {"fbm": bd.models.FBM(), "bm": bd.models.Brownian()}


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "no model names given; known: bm"),
        (" , ,", "no model names given"),
        ([], "no model names given"),
        ("bm,bm", "model 'bm' given twice"),
        (["fbm", " fbm"], "model 'fbm' given twice"),
        ("bm,gbm", "unknown model 'gbm'"),
        ("fbm+fast", "unknown option"),
        ("levy+noise", "LevyWalk takes no options"),
        ("bm+drift+drift", "given twice"),
    ],
)
def test_from_spec_rejects_with_model_error(spec, match):
    with pytest.raises(ModelError, match=match):
        from_spec(spec)


def test_available_and_public_face():
    assert available() == ["bm", "fbm", "langevin", "levy", "switch"]
    assert bd.models.from_spec is from_spec and bd.models.from_name is from_name
    assert bd.models.MODEL_NAMES == MODEL_NAMES
