#!/usr/bin/python3
"""Writes tests/ref/nn_ref.safetensors: PyTorch reference outputs for lib/nn.

The reference is the training code itself: the modules and functions come
from train/m2t/model.py, so the C kernels are checked against what the model
was trained with. Everything is float32, small random weights and inputs
(fixed seed), the file a few hundred KB. Run with the system python and
torch 1.13 (CPU):

    /usr/bin/python3 tests/nn/make_nn_ref.py [output path]

Layouts in the file: weights exactly as PyTorch holds them (the C test
converts them with the library's packing helpers); image activations in HWC,
[height][width][channels], the C layout; token activations [tokens][dim].
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "train"))

from m2t import model as M  # noqa: E402
from m2t.weights import write_safetensors  # noqa: E402

SEED = 20240601


def hwc(t):
    """(1, C, H, W) -> (H, W, C)."""
    return t[0].permute(1, 2, 0).contiguous()


def randomize_gdn(gdn):
    """Non-trivial but well-conditioned parameters (training starts at 0.1 I)."""
    c = gdn.beta_sqrt.shape[0]
    with torch.no_grad():
        gdn.beta_sqrt.copy_(0.5 + torch.rand(c))
        gdn.gamma_sqrt.copy_(math.sqrt(0.1) * torch.eye(c) + 0.1 * torch.rand(c, c))


def randomize_layernorm(ln):
    with torch.no_grad():
        ln.weight.copy_(1.0 + 0.2 * torch.randn_like(ln.weight))
        ln.bias.copy_(0.2 * torch.randn_like(ln.bias))


def add_gdn(out, prefix, gdn):
    out[prefix + ".beta"] = gdn.beta()
    out[prefix + ".gamma"] = gdn.gamma()


def add_conv(out, prefix, conv):
    out[prefix + ".weight"] = conv.weight
    out[prefix + ".bias"] = conv.bias


def single_convs(out):
    # 5x5 stride 2 on odd sizes: the padding and (h + 1) / 2 output rules.
    conv = M.conv(5, 7, 5, 2)
    x = torch.randn(1, 5, 13, 11)
    add_conv(out, "conv5s2", conv)
    out["conv5s2.x"] = hwc(x)
    out["conv5s2.y"] = hwc(conv(x))

    # 3x3 stride 1 then depth-to-space, as in the synthesis transform.
    conv = M.conv(6, 4 * 5, 3)
    x = torch.randn(1, 6, 9, 7)
    y = conv(x)
    add_conv(out, "conv3ps", conv)
    out["conv3ps.x"] = hwc(x)
    out["conv3ps.conv"] = hwc(y)
    out["conv3ps.y"] = hwc(F.pixel_shuffle(y, 2))


def gdns(out):
    x = 2.0 * torch.randn(1, 12, 9, 10)
    out["gdn.x"] = hwc(x)
    for name, inverse in (("gdn", False), ("igdn", True)):
        gdn = M.GDN(12, inverse=inverse)
        randomize_gdn(gdn)
        add_gdn(out, name, gdn)
        out[name + ".y"] = hwc(gdn(x))


def transforms(out, n=8, c=16, height=48, width=64):
    analysis = M.Analysis(n, c)
    for g in analysis.gdns:
        randomize_gdn(g)
    x = torch.rand(1, 3, height, width)
    y = analysis(x)
    out["analysis.x"] = hwc(x)
    out["analysis.y"] = hwc(y)
    for i, cv in enumerate(analysis.convs):
        add_conv(out, "analysis.conv%d" % i, cv)
    for i, g in enumerate(analysis.gdns):
        add_gdn(out, "analysis.gdn%d" % i, g)

    synthesis = M.Synthesis(n, c)
    for g in synthesis.igdns:
        randomize_gdn(g)
    out["synthesis.x"] = hwc(y)
    out["synthesis.y"] = hwc(synthesis(y))
    for i, cv in enumerate(synthesis.convs):
        add_conv(out, "synthesis.conv%d" % i, cv)
    for i, g in enumerate(synthesis.igdns):
        add_gdn(out, "synthesis.igdn%d" % i, g)


def small_layers(out):
    ln = torch.nn.LayerNorm(48)
    randomize_layernorm(ln)
    x = 3.0 * torch.randn(10, 48) + 1.5
    out["layernorm.x"] = x
    out["layernorm.weight"] = ln.weight
    out["layernorm.bias"] = ln.bias
    out["layernorm.y"] = ln(x)

    lin = torch.nn.Linear(48, 40)
    x = torch.randn(7, 48)
    out["linear.x"] = x
    out["linear.weight"] = lin.weight
    out["linear.bias"] = lin.bias
    out["linear.y"] = lin(x)

    x = torch.cat([torch.linspace(-8.0, 8.0, 1001), 0.3 * torch.randn(200),
                   torch.tensor([0.0, -0.0, 1e-20, -1e-20, 20.0, -20.0, 1e4, -1e4])])
    out["gelu.x"] = x
    out["gelu.y"] = M.gelu(x)


def block_mask(sizes):
    """M2T's block-triangular mask: token i sees token j iff group(j) <= group(i)."""
    group = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return group[None, :] <= group[:, None]


def transformer_block(out, d=64, heads=2, sizes=(3, 7, 14)):
    blk = M.Block(d, heads, 4)
    randomize_layernorm(blk.ln1)
    randomize_layernorm(blk.ln2)
    x = torch.randn(1, sum(sizes), d)
    out["block.x"] = x[0]
    out["block.y"] = blk(x, block_mask(sizes))[0]
    out["block.groups"] = torch.tensor(sizes, dtype=torch.float32)
    out["block.heads"] = torch.tensor([heads], dtype=torch.float32)
    for name in ("ln1", "qkv", "proj", "ln2", "fc1", "fc2"):
        mod = getattr(blk, name)
        out["block.%s.weight" % name] = mod.weight
        out["block.%s.bias" % name] = mod.bias


def attention(out, d=64, heads=2, sizes=(4, 6)):
    """Block.forward's attention, alone, with the M2T mask over two groups."""
    t = sum(sizes)
    q, k, v = (1.5 * torch.randn(1, t, d) for _ in range(3))
    hd = d // heads

    def split(a):
        return a.view(1, t, heads, hd).transpose(1, 2)

    att = (split(q) @ split(k).transpose(-1, -2)) / math.sqrt(hd)
    att = att.masked_fill(~block_mask(sizes), float("-inf")).softmax(dim=-1)
    y = (att @ split(v)).transpose(1, 2).reshape(1, t, d)
    out["attention.q"] = q[0]
    out["attention.k"] = k[0]
    out["attention.v"] = v[0]
    out["attention.y"] = y[0]
    out["attention.groups"] = torch.tensor(sizes, dtype=torch.float32)
    out["attention.heads"] = torch.tensor([heads], dtype=torch.float32)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "ref",
                                                              "nn_ref.safetensors")
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    out = {}
    with torch.no_grad():
        single_convs(out)
        gdns(out)
        transforms(out)
        small_layers(out)
        transformer_block(out)
        attention(out)
    arrays = {name: t.detach().float().contiguous().numpy() for name, t in out.items()}
    meta = {"generator": "tests/nn/make_nn_ref.py", "torch": torch.__version__, "seed": SEED}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_safetensors(path, arrays, meta, dtype="F32")
    total = sum(a.size for a in arrays.values())
    print("%s: %d tensors, %d floats" % (path, len(arrays), total))


if __name__ == "__main__":
    main()
