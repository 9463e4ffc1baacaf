#!/usr/bin/python3
"""Writes tests/data/codec_photo_ref.txt: what PyTorch gets on the photos of
the round-trip test, per image and quality.

    /usr/bin/python3 tests/codec/make_photo_ref.py [data folder] [output]

The numbers come from train/evaluate.py's code_image() (the reference the
C codec is compared with, see its docstring) on the first IMAGES photos of
$M2T_DATA/eval/cid22-validation in name order, with the shipped model. One
line per (image, quality): name, quality, bpp (ideal -log2 likelihood of the
latent tokens) and RGB PSNR of the 8-bit reconstruction.
"""
import os
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "train"))

import evaluate  # noqa: E402

IMAGES = 3
QUALITIES = (1, 4, 8)
CROP = (192, 192, 128, 128)   # x, y, width, height in the first image


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests", "data",
                                                             "codec_photo_ref.txt")
    folder = os.path.join(data, "eval", "cid22-validation")
    codec = evaluate.load_codec(os.path.join(ROOT, "models", "m2t-v1.safetensors"))
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith(".png"))[:IMAGES]
    lines = ["# name x y width height quality bpp psnr  (tests/codec/make_photo_ref.py: "
             "train/evaluate.py's code_image, models/m2t-v1.safetensors)"]
    regions = []
    for name in names:
        rgb = np.array(Image.open(os.path.join(folder, name)).convert("RGB"))
        regions.append((name, (0, 0, rgb.shape[1], rgb.shape[0]), rgb))
    x, y, w, h = CROP
    regions.append((names[0], CROP, regions[0][2][y:y + h, x:x + w]))
    for name, region, rgb in regions:
        for q in QUALITIES:
            bits, rec = evaluate.code_image(codec, rgb, q)
            bpp = bits / (rgb.shape[0] * rgb.shape[1])
            lines.append("%s %d %d %d %d %d %.5f %.4f" % ((name,) + tuple(region) +
                                                         (q, bpp, evaluate.psnr(rgb, rec))))
            print(lines[-1], flush=True)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
