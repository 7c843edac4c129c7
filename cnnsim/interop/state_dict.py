"""Read a file of named tensors (a PyTorch state dict) into ``{name: numpy array}``.

* ``.pth`` / ``.pt``      ``torch.load(path, map_location="cpu", weights_only=True)``
                          (needs PyTorch; ``weights_only`` never runs pickled code)
* ``.safetensors``        read here from the format's definition (no package needed): an
                          8-byte little-endian header length ``n``, ``n`` bytes of JSON
                          ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``,
                          then the raw little-endian data, offsets counted from its start
* ``.npz``                ``numpy.load``; the array names are the state dict's keys

A checkpoint that wraps its state dict (``{"state_dict": {...}}`` or ``{"model": {...}}``)
is unwrapped.
"""

import json
import os

import numpy as np

SUFFIXES = (".pth", ".pt", ".safetensors", ".npz")

_SAFETENSORS_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def read_state_dict(path):
    """``{name: ndarray}`` from a .pth/.pt, .safetensors or .npz file (see module)."""
    path = os.fspath(path)
    where = f"reading {path!r}"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: no such file")
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".pth", ".pt"):
        d = _read_torch(path, where)
    elif suffix == ".safetensors":
        d = read_safetensors(path)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    else:
        raise ValueError(
            f"{where}: unknown weights format {suffix or '(no suffix)'!r}; "
            f"expected one of {', '.join(SUFFIXES)}"
        )
    for key in ("state_dict", "model"):
        if isinstance(d.get(key), dict):
            d = d[key]
    bad = [k for k, v in d.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise ValueError(
            f"{where}: entry {bad[0]!r} is a {type(d[bad[0]]).__name__}, not a "
            f"tensor; expected a state dict (name -> tensor)"
        )
    return d


def _read_torch(path, where):
    try:
        import torch
    except ImportError:
        raise RuntimeError(
            f"{where}: .pth files need PyTorch (pip install torch); or convert "
            f"it once to .npz or .safetensors where torch is installed"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds; one line is what the user needs
        raise ValueError(f"{where}: torch.load failed: {str(e).splitlines()[0]}") from None
    if not isinstance(obj, dict):
        raise ValueError(
            f"{where}: expected a state dict (name -> tensor), got {type(obj).__name__}"
        )
    return {k: _to_numpy(v) for k, v in obj.items()}


def _to_numpy(v):
    if hasattr(v, "detach"):
        import torch

        v = v.detach().cpu()
        if v.dtype == torch.bfloat16:
            v = v.float()
        return v.numpy()
    if isinstance(v, dict):
        return {k: _to_numpy(x) for k, x in v.items()}
    return v


def read_safetensors(path):
    """``{name: ndarray}`` from a .safetensors file, read from the format's definition."""
    where = f"reading {os.fspath(path)!r}"
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{where}: too short for a safetensors file ({len(raw)} bytes)")
    n = int.from_bytes(raw[:8], "little")
    if n > len(raw) - 8:
        raise ValueError(f"{where}: header length {n} runs past the end of the file")
    try:
        header = json.loads(raw[8 : 8 + n])
    except ValueError:
        raise ValueError(f"{where}: the header is not JSON; not a safetensors file") from None
    data = memoryview(raw)[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (b, e) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        if dtype == "BF16":  # the high half of a float32
            u = np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dtype in _SAFETENSORS_DTYPES:
            arr = np.frombuffer(data[b:e], dtype=_SAFETENSORS_DTYPES[dtype])
        else:
            raise ValueError(
                f"{where}: tensor {name!r} has dtype {dtype}, which cnnsim does "
                f"not read; expected one of BF16, {', '.join(_SAFETENSORS_DTYPES)}"
            )
        if arr.size != int(np.prod(shape)):
            raise ValueError(f"{where}: tensor {name!r} holds {arr.size} values for shape {shape}")
        out[name] = arr.reshape(shape).copy()
    return out


def write_safetensors(tensors, path):
    """Write ``{name: ndarray}`` as .safetensors (float32/float64/int64 ...); for tests and
    for converting a .pth once (``write_safetensors(read_state_dict("x.pth"), ...)``)."""
    rev = {np.dtype(v).str: k for k, v in _SAFETENSORS_DTYPES.items()}
    header, chunks, off = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        a = a.astype(a.dtype.newbyteorder("<")) if a.dtype.byteorder == ">" else a
        key = rev.get(a.dtype.str) or rev.get(a.dtype.newbyteorder("<").str)
        if key is None:
            raise ValueError(
                f"write_safetensors: tensor {name!r} has dtype {a.dtype}, "
                f"not writable as safetensors here"
            )
        b = a.tobytes()
        header[name] = {"dtype": key, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in chunks:
            f.write(b)
