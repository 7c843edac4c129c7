"""`cnnsim summary`: the lecture's table, the notes computed from it, the JSON form, the CLI."""

import json

import pytest
from click.testing import CliRunner

from cnnsim import layers as L
from cnnsim import models
from cnnsim.cli.main import cli
from cnnsim.models import summary as S
from cnnsim.models._common import Reference

KEYS = [
    "name",
    "type",
    "maps",
    "size",
    "kernel",
    "stride",
    "padding",
    "activation",
    "output_shape",
    "params",
    "macs",
    "rf",
]


@pytest.fixture(scope="module")
def alexnet_lecture():
    return S.describe("alexnet")


def row(data, name):
    return next(r for r in data["layers"] if r["name"] == name)


def test_alexnet_lecture_rows_and_the_55_56_note(alexnet_lecture):
    d = alexnet_lecture
    assert d["input_shape"] == [3, 224, 224] and d["total_params"] == 201_838_952
    c1 = row(d, "C1")
    assert c1 == {
        "name": "C1",
        "type": "Convolution",
        "maps": 96,
        "size": [56, 56],
        "kernel": [11, 11],
        "stride": [4, 4],
        "padding": "SAME",
        "activation": "relu",
        "output_shape": [96, 56, 56],
        "params": 34_944,
        "macs": 96 * 56 * 56 * 363,
        "rf": {
            "size": {"min": [11, 11], "max": [11, 11]},
            "jump": {"min": [4, 4], "max": [4, 4]},
            "start": {"min": [-3, -3], "max": [-3, -3]},
        },
    }
    assert row(d, "S2")["padding"] == "VALID" and row(d, "F8")["maps"] is None
    assert row(d, "F8")["size"] == [4096]
    c1_notes = [n for n in d["notes"] if n.startswith("C1:")]
    assert len(c1_notes) == 1
    note = c1_notes[0]
    assert "224x224 with 11x11 stride 4 SAME gives 56x56" in note
    assert "ceil(224 / 4) = 56" in note and "not the table's 55x55" in note and "227x227" in note
    # only C1 disagrees: S2's VALID 3x3/2 brings 56 back to the table's 27
    assert [n.split(":")[0] for n in d["notes"] if "not the table's" in n] == ["C1"]
    assert any("43,264 inputs" in n for n in d["notes"])
    assert any("r = 5 (r//2 = 2), k = 1, alpha = 2e-05, beta = 0.75" in n for n in d["notes"])


def test_alexnet_paper_agrees_with_its_table():
    d = S.describe("alexnet", variant="paper")
    assert d["total_params"] == 60_965_224
    assert not [n for n in d["notes"] if "not the table's" in n or "not the 60" in n]
    assert any(n.startswith("Total: 60,965,224 trainable parameters, as in") for n in d["notes"])
    assert row(d, "C1")["size"] == [55, 55] and row(d, "C1")["padding"] == "VALID"


def test_input_size_changes_the_arithmetic_and_the_notes():
    d = S.describe("alexnet", input_size=(227, 227))
    assert d["input_shape"] == [3, 227, 227] and row(d, "C1")["size"] == [57, 57]
    assert any("227x227 with 11x11 stride 4 SAME gives 57x57" in n for n in d["notes"])
    assert any(n.startswith("Input 3@227x227 differs") for n in d["notes"])
    assert S.describe("lenet5", input_size=(36, 36))["input_shape"] == [1, 36, 36]


def test_lenet5_paper_summary():
    d = S.describe("lenet5")
    assert [r["name"] for r in d["layers"]] == [
        "C1",
        "S2",
        "C3",
        "S4",
        "C5",
        "flatten",
        "F6",
        "Out",
    ]
    assert d["total_params"] == 60_000
    assert not [n for n in d["notes"] if "not the" in n]
    assert row(d, "S2")["params"] == 12 and row(d, "S2")["type"] == "Subsampling"
    assert row(d, "C3")["params"] == 1_516 and row(d, "Out")["type"] == "RBF"
    assert any("840" in n for n in d["notes"])
    modern = S.describe("lenet5", variant="modern")
    assert modern["total_params"] == 61_706 and row(modern, "C3")["params"] == 2_416


def test_nested_rows_for_inception_and_residual_units():
    g = S.describe("googlenet")
    names = [r["name"] for r in g["layers"]]
    i = names.index("inception_3a")
    assert names[i : i + 11] == [
        "inception_3a",
        "inception_3a/1x1",
        "inception_3a/3x3",
        "inception_3a/3x3/3x3_reduce",
        "inception_3a/3x3/3x3",
        "inception_3a/5x5",
        "inception_3a/5x5/5x5_reduce",
        "inception_3a/5x5/5x5",
        "inception_3a/pool",
        "inception_3a/pool/pool",
        "inception_3a/pool/pool_proj",
    ]
    assert (
        row(g, "inception_3a")["type"] == "Inception"
        and row(g, "inception_3a/3x3")["type"] == "Branch"
    )
    depths = [
        row(g, f"inception_{k}")["maps"]
        for k in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
    ]
    assert depths == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    # containers' counts are the sums of their leaves; aux heads listed last, not in the total
    assert row(g, "inception_3a")["params"] == sum(
        r["params"]
        for r in g["layers"]
        if r["name"].startswith("inception_3a/") and r["name"].count("/") == 1
    )
    assert names[-7:] == [
        "aux2",
        "aux2/pool",
        "aux2/conv",
        "aux2/flatten",
        "aux2/fc1",
        "aux2/dropout",
        "aux2/fc2",
    ]
    top = [r for r in g["layers"] if "/" not in r["name"] and r["type"] != "Aux classifier"]
    assert sum(r["params"] for r in top) == g["total_params"] == 6_998_552
    text = S.format_table(g)
    assert "\n  inception_3a/3x3 " in text and "\n    inception_3a/3x3/3x3_reduce " in text

    r = S.describe("resnet18")
    assert r["total_params"] == 11_689_512
    assert row(r, "conv3_1")["type"] == "Residual unit"
    assert row(r, "conv3_1/shortcut")["type"] == "Shortcut"
    assert row(r, "conv3_1/main/conv_a")["padding"] == [1, 1, 1, 1]
    assert "\n    conv3_1/main/conv_a " in S.format_table(r)


def test_notes_come_from_the_arithmetic_not_from_fixed_strings():
    net = L.Sequential(
        [L.Conv2D(2, 3, 2, "valid", name="a"), L.Flatten(name="f"), L.Dense(3, name="d")],
        input_shape=(1, 9, 8),
        name="toy",
    )
    net.reference = Reference(
        source="a made-up table",
        input_shape=(1, 9, 8),
        layers={"a": (2, 4, 4), "d": (4,), "zz": (1,)},
        hints={"a": "because."},
        total_params=1,
    )
    notes = S.notes(net)
    assert notes[0] == (
        "a: 9x8 with 3x3 stride 2 VALID gives 4x3 (floor((9 - 3) / 2) + 1 = 4; "
        "floor((8 - 3) / 2) + 1 = 3), not the table's 4x4 (a made-up table); because."
    )
    assert notes[1] == "d: the network gives 3, not the table's 4 (a made-up table)."
    assert notes[2] == "zz: in a made-up table but not in this network"
    assert notes[3].startswith(f"Total: {net.param_count():,} trainable parameters, not the 1 of")


# ---- the command ---------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(cli, ["summary", *args])


def test_cli_table_text():
    res = invoke("alexnet")
    assert res.exit_code == 0, res.output
    out = res.output
    header = out.splitlines()[1]
    for col in (
        "Layer",
        "Type",
        "Maps",
        "Size",
        "Kernel size",
        "Stride",
        "Padding",
        "Activation",
        "Output shape",
        "Params",
        "MACs",
    ):
        assert col in header
    lines = {
        ln.split()[0]: ln for ln in out.splitlines()[3:] if ln.strip() and not ln.startswith(" ")
    }
    for name in ("In", "C1", "S2", "C3", "S4", "C5", "C6", "C7", "F8", "F9", "Out"):
        assert name in lines, name
    assert "11x11" in lines["C1"] and "SAME" in lines["C1"] and "56x56" in lines["C1"]
    assert "Total: 201,838,952 trainable parameters" in out
    assert "gives 56x56" in out and "not the table's 55x55" in out


def test_cli_json():
    res = invoke("lenet5", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert list(data) == ["model", "input_shape", "layers", "total_params", "notes"]
    assert all(list(r) == KEYS for r in data["layers"])
    assert data["total_params"] == 60_000 and data["input_shape"] == [1, 32, 32]
    res = invoke("resnet_cifar", "-o", "n=1", "--json", "--input-size", "16", "16")
    data = json.loads(res.output)
    assert data["input_shape"] == [3, 16, 16] and row(data, "fc")["output_shape"] == [10]


def test_cli_list():
    res = invoke("--list")
    assert res.exit_code == 0
    names = [ln.split()[0] for ln in res.output.splitlines()]
    assert names == models.available()  # the registry's order (tests/test_models.py lists it)


@pytest.mark.parametrize(
    "args,msg",
    [
        (["vgg16"], "unknown model 'vgg16'; available: alexnet, googlenet, lenet5"),
        (
            ["alexnet", "--variant", "v3"],
            "unknown variant 'v3'; expected one of 'lecture', 'paper'",
        ),
        (["resnet18", "--variant", "paper"], "unexpected keyword argument 'variant'"),
        (["tower", "-o", "depth"], "expected KEY=VALUE"),
        ([], "missing MODEL; available: alexnet"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(args, msg):
    res = invoke(*args)
    assert res.exit_code == 2
    err = [ln for ln in res.output.splitlines() if ln.startswith("Error")]
    assert len(err) == 1 and msg in err[0]
