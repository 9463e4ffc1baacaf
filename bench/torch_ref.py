#!/usr/bin/python3
"""Time the PyTorch reference of the same weights on the same images.

    bench/torch_ref.py --threads 2 --repeats 3 IMAGE...

Runs what the C codec runs, with PyTorch on the CPU: encode = analysis
transform + the 12 M2T steps of the entropy model (with a key/value cache,
all patches of the image batched together, which favours PyTorch); decode =
the same steps + synthesis transform. Entropy coding itself is not included
(PyTorch has none), so the comparison flatters the reference. Prints one JSON
line per image with median seconds.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from m2t import model as M  # noqa: E402
from m2t import weights as W  # noqa: E402


def attention_step(blk, x, cache):
    """One pre-norm block on the rows of this step, keys/values appended to cache."""
    b, t, d = x.shape
    h = blk.heads
    q, k, v = blk.qkv(blk.ln1(x)).split(d, dim=-1)
    k = k.view(b, t, h, d // h).transpose(1, 2)
    v = v.view(b, t, h, d // h).transpose(1, 2)
    cache[0] = k if cache[0] is None else torch.cat([cache[0], k], dim=2)
    cache[1] = v if cache[1] is None else torch.cat([cache[1], v], dim=2)
    q = q.view(b, t, h, d // h).transpose(1, 2)
    att = torch.softmax((q @ cache[0].transpose(-1, -2)) / math.sqrt(d // h), dim=-1)
    y = (att @ cache[1]).transpose(1, 2).reshape(b, t, d)
    x = x + blk.proj(y)
    return x + blk.fc2(M.gelu(blk.fc1(blk.ln2(x))))


def entropy_steps(em, tokens, quality):
    """M2T inference over patches (P, N, C): the head outputs of every step."""
    p = tokens.shape[0]
    ordered = tokens[:, em.order]
    caches = [[None, None] for _ in em.blocks]
    outs, start = [], 0
    prev_start, prev_size = 0, 0
    for size in em.group_sizes:
        slots = torch.arange(start, start + size)
        x = em.mask_token.expand(p, size, -1).clone()
        n_src = min(prev_size, size)
        if n_src:
            x[:, :n_src] = em.embed(ordered[:, prev_start:prev_start + n_src] / M.EMBED_DIVISOR)
        x = x + em.pos[slots][None] + em.quality[quality][None, None]
        for blk, cache in zip(em.blocks, caches):
            x = attention_step(blk, x, cache)
        outs.append(em.head(em.ln_out(x)))
        prev_start, prev_size = start, size
        start += size
    return outs


@torch.no_grad()
def encode(codec, x, q):
    y = torch.round(codec.encode_latents(x, torch.tensor([q])))
    tokens = M.to_patches(pad_latents(y, codec.cfg["patch"]), codec.cfg["patch"])
    entropy_steps(codec.entropy, tokens, q)
    return y


@torch.no_grad()
def decode(codec, y, q):
    tokens = M.to_patches(pad_latents(y, codec.cfg["patch"]), codec.cfg["patch"])
    entropy_steps(codec.entropy, tokens, q)
    return codec.decode_latents(y, torch.tensor([q]))


def pad_latents(y, wt):
    return F.pad(y, (0, -y.shape[3] % wt, 0, -y.shape[2] % wt))


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--model", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "..", "models", "m2t-v1.safetensors"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quality", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, sd = W.load_any(args.model)
    codec = M.Codec(cfg)
    codec.load_state_dict(sd)
    codec.eval()
    q = args.quality - 1
    for path in args.images:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255
        x = F.pad(x, (0, -x.shape[3] % 16, 0, -x.shape[2] % 16), mode="replicate")
        y = encode(codec, x, q)   # warm-up
        decode(codec, y, q)
        enc = median_time(lambda: encode(codec, x, q), args.repeats)
        dec = median_time(lambda: decode(codec, y, q), args.repeats)
        print(json.dumps({"image": path, "width": rgb.shape[1], "height": rgb.shape[0],
                          "threads": args.threads, "torch": torch.__version__,
                          "encode_seconds": enc, "decode_seconds": dec}), flush=True)


if __name__ == "__main__":
    main()
