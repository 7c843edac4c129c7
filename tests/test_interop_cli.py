"""``cnnsim step alexnet --variant torchvision --weights FILE --image photo.jpg``: the
ImageNet preprocessing is applied and stated, the top-5 classes are torchvision's."""

import numpy as np
import pytest
from click.testing import CliRunner

from cnnsim.cli.main import cli
from cnnsim.interop import imagenet

torch = pytest.importorskip("torch", reason="torch is the reference")
tv = pytest.importorskip("torchvision", reason="torchvision is the reference")
Image = pytest.importorskip("PIL.Image", reason="PIL writes the test photo")


def run(*args):
    return CliRunner().invoke(cli, ["step", *map(str, args)])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("alex")
    torch.manual_seed(0)
    m = tv.models.alexnet().eval()
    torch.save(m.state_dict(), d / "alexnet.pth")
    rng = np.random.default_rng(0)
    a = np.clip(np.cumsum(rng.integers(-3, 4, (240, 320, 3)), axis=1) + 128, 0, 255)
    Image.fromarray(a.astype(np.uint8)).save(d / "photo.png")
    T = tv.transforms
    x = T.Compose(
        [T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(imagenet.MEAN, imagenet.STD)]
    )(Image.open(d / "photo.png"))
    with torch.no_grad():
        p = torch.softmax(m(x[None]), 1)[0].numpy()
    return d, p


def test_top5_names_match_torchvision_and_preprocessing_is_stated(files, tmp_path):
    d, p = files
    r = run(
        "alexnet",
        "--variant",
        "torchvision",
        "--weights",
        d / "alexnet.pth",
        "--image",
        d / "photo.png",
        "--plot",
        tmp_path / "figs",
    )
    assert r.exit_code == 0, r.output
    assert "loaded 16 torchvision tensors" in r.output
    assert r.output.split("prediction: class ")[1].startswith(imagenet.classes()[int(np.argmax(p))])
    assert "ImageNet preprocessing: resized 240x320 -> 256x341" in r.output
    assert "centre crop 224x224" in r.output and "mean (0.485, 0.456, 0.406)" in r.output
    top = r.output.split("prediction: class ")[1].splitlines()[2:7]  # the top 5, in order
    names = imagenet.classes()
    for line, i in zip(top, np.argsort(-p)[:5]):
        assert line.strip().startswith(names[i]), (line, names[i])
    figs = {f.name for f in (tmp_path / "figs").iterdir()}
    assert "kernels_000_C1.png" in figs


def test_bad_weights_are_one_line_usage_errors(files, tmp_path):
    d, _ = files
    np.savez(tmp_path / "w.npz", **{"features.0.weight": np.zeros((64, 3, 11, 11), np.float32)})
    r = run("alexnet", "--variant", "torchvision", "--weights", tmp_path / "w.npz", "--seed", 0)
    assert r.exit_code == 2
    assert "missing parameter 'features.0.bias'" in r.output
    r = run("alexnet", "--weights", d / "alexnet.pth", "--seed", 0)  # lecture variant
    assert r.exit_code == 2 and "no torchvision names for network 'alexnet-lecture'" in r.output


def test_classes_are_the_1000_imagenet_names():
    names = imagenet.classes()
    assert len(names) == 1000 and names[0] == "tench" and names[999] == "toilet tissue"
    assert names == tv.models.AlexNet_Weights.IMAGENET1K_V1.meta["categories"]


@pytest.mark.parametrize("hw", [(300, 400), (517, 389), (256, 256)])
def test_preprocess_matches_torchvision_transforms(hw):
    rng = np.random.default_rng(1)
    h, w = hw
    a = np.clip(np.cumsum(rng.integers(-3, 4, (h, w, 3)), axis=1) + 128, 0, 255).astype(np.uint8)
    T = tv.transforms
    ref = T.Compose(
        [T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(imagenet.MEAN, imagenet.STD)]
    )(Image.fromarray(a)).numpy()
    x, note = imagenet.preprocess(a.transpose(2, 0, 1) / 255.0)
    # PIL resamples uint8 and rounds: within one grey level of 255
    assert np.abs(x - ref).max() * min(imagenet.STD) <= 1.01 / 255
