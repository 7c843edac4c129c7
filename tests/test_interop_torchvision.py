"""torchvision state dicts loaded into cnnsim's torchvision-compatible models give the same
outputs as torchvision in eval mode (random weights, randomised batch-norm statistics)."""

import numpy as np
import pytest

from cnnsim import models
from cnnsim.interop import load_torchvision, read_state_dict, torchvision_state_dict
from cnnsim.interop.state_dict import read_safetensors, write_safetensors
from cnnsim.interop.torchvision import WeightsError

torch = pytest.importorskip("torch", reason="torch is the reference for torchvision weights")
tvm = pytest.importorskip("torchvision.models", reason="torchvision is the reference")


def _randomise(model, seed=0):
    """Random weights (torchvision's init) and random batch-norm statistics and affine."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
    return model.eval()


def _logits(net, x):
    out = net.find(list(net.leaves())[-1].path)
    out.emit_logits = True  # the pre-softmax values: torchvision's output
    try:
        return net(x)
    finally:
        out.emit_logits = False


def _compare(tmodel, net, shape, seed=0, tol=2e-4):
    x = np.random.default_rng(seed).standard_normal((2,) + shape).astype(np.float32)
    with torch.no_grad():
        ref = tmodel(torch.from_numpy(x)).numpy()
    sd = {k: v.numpy() for k, v in tmodel.state_dict().items()}
    report = load_torchvision(net, sd)
    got = _logits(net, x)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(got, ref, atol=tol * scale, rtol=tol)
    probs = net(x)
    e = np.exp(ref - ref.max(1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(1, keepdims=True), atol=1e-5)
    return report


def test_resnet18_matches_torchvision():
    torch.manual_seed(0)
    tm = _randomise(tvm.resnet18(num_classes=10))
    net = models.resnet18(input_shape=(3, 64, 64), num_classes=10)
    report = _compare(tm, net, (3, 64, 64))
    assert report["loaded"] == len(tm.state_dict()) - sum(
        k.endswith("num_batches_tracked") for k in tm.state_dict()
    )


def test_resnet34_names_and_shapes_match_torchvision():
    tm = tvm.resnet34()
    net = models.resnet34()
    want = {
        k: tuple(v.shape)
        for k, v in tm.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    got = {k: v.shape for k, v in torchvision_state_dict(net).items()}
    assert got == want


def test_alexnet_torchvision_matches():
    torch.manual_seed(1)
    tm = tvm.alexnet(num_classes=20).eval()
    net = models.alexnet(variant="torchvision", num_classes=20)
    _compare(tm, net, (3, 224, 224), seed=1)


def test_googlenet_torchvision_matches():
    torch.manual_seed(2)
    tm = _randomise(
        tvm.googlenet(num_classes=10, aux_logits=False, init_weights=True, transform_input=False)
    )
    net = models.googlenet(variant="torchvision", num_classes=10, input_shape=(3, 64, 64))
    _compare(tm, net, (3, 64, 64), seed=2)


def test_googlenet_aux_heads_are_skipped_and_reported():
    tm = tvm.googlenet(num_classes=10, aux_logits=True, init_weights=False)
    net = models.googlenet(variant="torchvision", num_classes=10, input_shape=(3, 64, 64))
    report = load_torchvision(net, {k: v.numpy() for k, v in tm.state_dict().items()})
    assert any(k.startswith("aux1.") for k in report["skipped"])
    assert any(k.startswith("aux2.") for k in report["skipped"])


def test_alexnet_torchvision_architecture():
    net = models.alexnet(variant="torchvision")
    assert net.param_count() == sum(p.numel() for p in tvm.alexnet().parameters()) == 61_100_840
    assert net.find("S8").output_shape == (256, 6, 6)


@pytest.fixture
def small_resnet():
    torch.manual_seed(3)
    tm = _randomise(tvm.resnet18(num_classes=4))
    sd = {k: v.numpy() for k, v in tm.state_dict().items()}
    return tm, sd


def test_missing_key_is_one_line_naming_it(small_resnet):
    _, sd = small_resnet
    sd.pop("layer2.0.downsample.1.running_var")
    net = models.resnet18(input_shape=(3, 32, 32), num_classes=4)
    before = net.find("conv1").params["w"].copy()
    with pytest.raises(
        WeightsError, match=r"missing parameter 'layer2\.0\.downsample\.1\.running_var'"
    ) as e:
        load_torchvision(net, sd)
    assert "\n" not in str(e.value)
    np.testing.assert_array_equal(net.find("conv1").params["w"], before)  # nothing loaded


def test_extra_key_is_one_line_naming_it(small_resnet):
    _, sd = small_resnet
    sd["head.weight"] = np.zeros((4, 512), np.float32)
    net = models.resnet18(input_shape=(3, 32, 32), num_classes=4)
    with pytest.raises(WeightsError, match=r"unexpected parameter 'head\.weight'") as e:
        load_torchvision(net, sd)
    assert "\n" not in str(e.value)


def test_shape_mismatch_is_one_line_naming_it(small_resnet):
    _, sd = small_resnet
    net = models.resnet18(input_shape=(3, 32, 32), num_classes=10)
    with pytest.raises(
        WeightsError,
        match=r"'fc\.weight' has shape \(4, 512\), layer 'fc' "
        r"expects \(10, 512\)",
    ):
        load_torchvision(net, sd)


def test_unsupported_model_is_named():
    with pytest.raises(WeightsError, match="no torchvision names for network 'lenet5"):
        load_torchvision(models.lenet5(), {})


def test_files_pth_safetensors_npz_give_the_same_weights(tmp_path, small_resnet):
    tm, sd = small_resnet
    torch.save(tm.state_dict(), tmp_path / "w.pth")
    write_safetensors(sd, tmp_path / "w.safetensors")
    np.savez(tmp_path / "w.npz", **sd)
    for name in ("w.pth", "w.safetensors", "w.npz"):
        got = read_state_dict(tmp_path / name)
        assert set(got) == set(sd), name
        for k in sd:
            np.testing.assert_array_equal(got[k], sd[k], err_msg=f"{name}: {k}")
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    outs = []
    for name in ("w.pth", "w.safetensors", "w.npz"):
        net = models.resnet18(input_shape=(3, 32, 32), num_classes=4)
        load_torchvision(net, tmp_path / name)
        outs.append(net(x))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_safetensors_reader_agrees_with_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="safetensors package is the reference")
    rng = np.random.default_rng(0)
    d = {
        "a": rng.standard_normal((3, 4)).astype(np.float32),
        "b": rng.integers(0, 9, (5,)).astype(np.int64),
        "c": rng.standard_normal((2, 2, 2)).astype(np.float16),
    }
    st.save_file(d, str(tmp_path / "x.safetensors"))
    got = read_safetensors(tmp_path / "x.safetensors")
    for k in d:
        np.testing.assert_array_equal(got[k], d[k])
    write_safetensors(d, tmp_path / "y.safetensors")
    back = st.load_file(str(tmp_path / "y.safetensors"))
    for k in d:
        np.testing.assert_array_equal(back[k], d[k])


def test_bf16_safetensors(tmp_path):
    t = torch.tensor([1.5, -2.25, 3.0e-3], dtype=torch.bfloat16)
    sf = pytest.importorskip("safetensors.torch", reason="safetensors package writes bf16")
    sf.save_file({"t": t}, str(tmp_path / "b.safetensors"))
    np.testing.assert_array_equal(
        read_safetensors(tmp_path / "b.safetensors")["t"], t.float().numpy()
    )


def test_unknown_suffix(tmp_path):
    p = tmp_path / "w.h5"
    p.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"unknown weights format '\.h5'"):
        read_state_dict(p)
