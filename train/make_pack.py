#!/usr/bin/env python3
"""Make the compact training pack: every training image as a JPEG (4:4:4).

The pack is what travels to a machine that cannot read ../shared (a GPU
machine): one .npz of at most 32 MiB, holding encoded images, their source
names, and which ones are held out for validation during training.

    python3 train/make_pack.py ../shared/data/train .pack/train.npz

Only ../shared/data/train is read: the evaluation images never enter a pack.
"""
import argparse
import io
import os
import sys

import numpy as np
from PIL import Image

MAX_BYTES = 32 * 1024 * 1024
HOLDOUT_EVERY = 40   # every 40th image (sorted by name) is validation only


def list_images(root, sources):
    names = []
    for sub in sources:
        d = os.path.join(root, sub)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.lower().endswith((".png", ".jpg", ".jpeg")):
                names.append(os.path.join(sub, f))
    return names


def load_rgb(path, downscale_jpeg):
    img = Image.open(path).convert("RGB")
    if downscale_jpeg and path.lower().endswith((".jpg", ".jpeg")):
        # Halving washes out the JPEG artefacts of the source photos.
        img = img.resize((img.width // 2, img.height // 2), Image.LANCZOS)
    return img


def encode(img, quality):
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, subsampling=0)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train_dir")
    ap.add_argument("out")
    ap.add_argument("--quality", type=int, default=93)
    ap.add_argument("--downscale-jpeg", action="store_true",
                    help="halve the JPEG-sourced photos (BSDS500)")
    ap.add_argument("--sources", default="cid22,sun-hays80",
                    help="comma-separated sub-folders of train_dir to pack")
    args = ap.parse_args()

    names = list_images(args.train_dir, args.sources.split(","))
    arrays, total = {}, 0
    for i, name in enumerate(names):
        data = encode(load_rgb(os.path.join(args.train_dir, name), args.downscale_jpeg),
                      args.quality)
        arrays["img%04d" % i] = data
        total += data.nbytes
    holdout = np.array([i % HOLDOUT_EVERY == HOLDOUT_EVERY // 2 for i in range(len(names))])
    arrays["names"] = np.array(names)
    arrays["holdout"] = holdout
    arrays["jpeg_quality"] = np.array(args.quality)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez(args.out, **arrays)
    size = os.path.getsize(args.out)
    print("%d images (%d held out), %.1f MiB" % (len(names), holdout.sum(), size / 2**20))
    if size > MAX_BYTES:
        sys.exit("pack exceeds 32 MiB: lower --quality or pass --downscale-jpeg")


if __name__ == "__main__":
    main()
