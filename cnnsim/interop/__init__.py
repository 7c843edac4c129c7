"""Bring your own model: read other frameworks' weights and models, write ours for them.

    from cnnsim import models, interop
    net = models.alexnet(variant="torchvision")
    interop.load_torchvision(net, "alexnet.pth")    # .pth, .safetensors or .npz
    net = interop.from_onnx("mynet.onnx")            # needs the onnx package
    interop.to_onnx(net, "mynet.onnx")

* ``state_dict``  read a tensor file into ``{name: ndarray}`` (no torch needed for
                  .safetensors and .npz)
* ``torchvision`` torchvision parameter names <-> cnnsim layers, load / export
* ``onnx_io``     ONNX import and export (``pip install 'cnnsim[onnx]'``)
* ``imagenet``    the 1000 ImageNet class names and the standard preprocessing

Nothing here touches the network: weights are files the user gives.
"""

from .state_dict import read_state_dict  # noqa: F401
from .torchvision import load_torchvision, torchvision_state_dict  # noqa: F401


def from_onnx(path, **options):
    """Read an ONNX file into a cnnsim network (see ``cnnsim.interop.onnx_io``)."""
    from .onnx_io import from_onnx as _f

    return _f(path, **options)


def to_onnx(net, path=None, **options):
    """Write a built cnnsim network to an ONNX file (``path=None``: only return the
    ``onnx.ModelProto``; see ``cnnsim.interop.onnx_io``)."""
    from .onnx_io import to_onnx as _t

    return _t(net, path, **options)
