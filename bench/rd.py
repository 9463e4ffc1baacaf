#!/usr/bin/python3
"""Rate-distortion of m2t (the C CLI) against WebP, AVIF, HEIC and JPEG.

    bench/rd.py --m2t build/clients/m2t --images ../shared/data/eval/cid22-validation \\
                --out docs/benchmarks.md --plot docs/rd.png

Runs every codec on every image in the same run: m2t at qualities 1..8,
cwebp -m 6, avifenc (aom, 4:4:4, speed 6), heif-enc (x265, 4:4:4) and cjpeg
(4:4:4, optimized) over a sweep of their quality settings; decodes with each
codec's own decoder; reports mean bpp (file bytes * 8 / pixels) and mean RGB
PSNR per point (the convention of the field), and the Bjontegaard delta rate
of m2t against each (cubic fit of log rate over PSNR, integrated over the
overlapping PSNR range; negative = m2t needs fewer bytes). Also against the
VTM anchor points of ../shared/NOTES.md, which were measured on Kodak (a
different image set: an indication only). Needs python3-numpy, python3-pil,
python3-matplotlib, webp, libavif-bin, libheif-examples, libjpeg-turbo-progs.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

VTM_KODAK = [(0.048, 26.14), (0.113, 28.49), (0.246, 31.20), (0.491, 34.26),
             (0.875, 37.42), (1.431, 40.42), (2.325, 43.51)]


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def load_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def psnr(a, b):
    mse = np.mean((a - b) ** 2)
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))


class Codec:
    """name, settings, and how to encode/decode one image with one setting."""

    def __init__(self, name, settings, encode, decode, ext):
        self.name, self.settings, self.encode, self.decode, self.ext = \
            name, settings, encode, decode, ext


def codecs(m2t, model, threads):
    mflag = ["-m", model] if model else []
    return [
        Codec("m2t", list(range(1, 9)),
              lambda s, i, o: run([m2t, "compress", "-q", str(s), "-t", str(threads)] + mflag + [i, "-o", o]),
              lambda i, o: run([m2t, "decompress", "-t", str(threads)] + mflag + [i, "-o", o]), "m2t"),
        Codec("webp", [10, 30, 50, 70, 80, 90, 95],
              lambda s, i, o: run(["cwebp", "-quiet", "-m", "6", "-q", str(s), i, "-o", o]),
              lambda i, o: run_via_ppm(["dwebp", "-quiet", i, "-ppm", "-o"], o), "webp"),
        Codec("avif", [58, 50, 42, 34, 26, 18],
              lambda s, i, o: run(["avifenc", "-j", "1", "-s", "6", "-y", "444", "--min", str(s),
                                   "--max", str(s), i, o]),
              lambda i, o: run(["avifdec", i, o]), "avif"),
        Codec("heic", [10, 20, 28, 35, 42, 50, 65],
              lambda s, i, o: run(["heif-enc", "-q", str(s), "-p", "chroma=444", i, "-o", o]),
              lambda i, o: run(["heif-convert", i, o]), "heic"),
        Codec("jpeg", [20, 40, 60, 75, 85, 92, 97],
              lambda s, i, o: run_jpeg(s, i, o),
              lambda i, o: run_djpeg(i, o), "jpg"),
    ]


def run_jpeg(q, src, dst):
    with tempfile.NamedTemporaryFile(suffix=".ppm") as t:
        Image.open(src).convert("RGB").save(t.name)
        run(["cjpeg", "-quality", str(q), "-sample", "1x1", "-optimize", "-outfile", dst, t.name])


def run_djpeg(src, dst):
    run_via_ppm(["djpeg", "-outfile"], dst, src)


def run_via_ppm(cmd, dst, *rest):
    """Runs a decoder that writes PPM (cmd + [ppm] + rest), then converts to dst."""
    with tempfile.NamedTemporaryFile(suffix=".ppm") as t:
        run(cmd + [t.name] + list(rest))
        Image.open(t.name).save(dst)


def clean_copies(images, tmp):
    """Plain RGB PNG copies, without the colour profiles some tools trip on
    (libheif's PNG writer refuses CID22's 'known incorrect sRGB profile')."""
    out = []
    for i, path in enumerate(images):
        dst = os.path.join(tmp, "src%04d.png" % i)
        Image.fromarray(np.asarray(Image.open(path).convert("RGB"))).save(dst)
        out.append(dst)
    return out


def measure(codec, setting, images, tmp):
    bpp, ps, enc_s, dec_s = [], [], 0.0, 0.0
    for path in images:
        ref = load_rgb(path)
        coded = os.path.join(tmp, "x." + codec.ext)
        decoded = os.path.join(tmp, "x.png")
        t0 = time.time()
        codec.encode(setting, path, coded)
        t1 = time.time()
        codec.decode(coded, decoded)
        t2 = time.time()
        enc_s += t1 - t0
        dec_s += t2 - t1
        bpp.append(os.path.getsize(coded) * 8.0 / (ref.shape[0] * ref.shape[1]))
        ps.append(psnr(ref, load_rgb(decoded)))
    n = len(images)
    return {"setting": setting, "bpp": float(np.mean(bpp)), "psnr": float(np.mean(ps)),
            "encode_s": enc_s / n, "decode_s": dec_s / n}


def bd_rate(anchor, test):
    """Bjontegaard delta rate (%) of test against anchor, lists of (bpp, psnr)."""
    if len(anchor) < 4 or len(test) < 4:
        return None
    a = sorted(anchor, key=lambda p: p[1])
    t = sorted(test, key=lambda p: p[1])
    lo = max(a[0][1], t[0][1])
    hi = min(a[-1][1], t[-1][1])
    if hi <= lo:
        return None
    pa = np.polyfit([p[1] for p in a], [math.log(p[0]) for p in a], 3)
    pt = np.polyfit([p[1] for p in t], [math.log(p[0]) for p in t], 3)
    ia, it = np.polyint(pa), np.polyint(pt)
    avg = ((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return (math.exp(avg) - 1) * 100


def model_facts(path):
    """The training facts from a .safetensors model's __metadata__."""
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n)).get("__metadata__", {})
    keys = ["name", "date", "train_device", "train_steps", "train_batch", "train_crop",
            "train_seconds", "train_data", "lambdas", "quality_points"]
    return [(k, meta[k]) for k in keys if k in meta]


def default_model_path():
    models = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
    with open(os.path.join(models, "DEFAULT")) as f:
        return os.path.join(models, f.read().strip())


def write_report(results, out, plot, args, elapsed):
    m2t = [(r["bpp"], r["psnr"]) for r in results.get("m2t", [])]
    lines = ["# Rate-distortion benchmark", "",
             "Made by `%s` on %s (%d images of `%s`, %.0f s)." % (
                 " ".join(["bench/rd.py"] + sys.argv[1:]), time.strftime("%Y-%m-%d"),
                 results["images"], os.path.basename(os.path.normpath(args.images)), elapsed), "",
             "Mean bpp (file bytes x 8 / pixels) and mean RGB PSNR over the images, per setting.",
             "BD-rate: Bjontegaard delta rate of m2t against the codec (negative: m2t needs fewer",
             "bytes for the same PSNR), over the PSNR range both cover.", "",
             "| codec | BD-rate of m2t vs it |", "|---|---|"]
    for name in ["webp", "avif", "heic", "jpeg"]:
        if name in results:
            bd = bd_rate([(r["bpp"], r["psnr"]) for r in results[name]], m2t)
            lines.append("| %s | %s |" % (name, "n/a (no overlap)" if bd is None else "%+.1f %%" % bd))
    bd = bd_rate(VTM_KODAK, m2t)
    lines.append("| VTM 17.1 anchor points from NOTES.md (Kodak, not this image set) | %s |"
                 % ("n/a" if bd is None else "%+.1f %%" % bd))
    lines += ["", "Model (from its metadata; see docs/training.md):", ""]
    lines += ["- %s: %s" % kv for kv in model_facts(args.model or default_model_path())]
    lines += ["", "| codec | setting | bpp | PSNR (dB) | encode s/image | decode s/image |",
              "|---|---|---|---|---|---|"]
    for name, rows in results.items():
        if name == "images":
            continue
        for r in rows:
            lines.append("| %s | %s | %.4f | %.2f | %.3f | %.3f |" % (
                name, r["setting"], r["bpp"], r["psnr"], r["encode_s"], r["decode_s"]))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(out.replace(".md", ".json"), "w") as f:
        json.dump(results, f, indent=1)
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 5))
        for name, rows in results.items():
            if name == "images":
                continue
            ax.plot([r["bpp"] for r in rows], [r["psnr"] for r in rows], "o-", label=name,
                    linewidth=2.5 if name == "m2t" else 1.2)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("RGB PSNR (dB)")
        ax.set_xlim(0, 2.0)
        shown = [r["psnr"] for name, rows in results.items() if name != "images"
                 for r in rows if r["bpp"] <= 2.0]
        ax.set_ylim(min(shown) - 1, max(shown) + 1)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title("Rate-distortion, %d images" % results["images"])
        fig.tight_layout()
        fig.savefig(plot, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m2t", default="build/clients/m2t")
    ap.add_argument("--model", help="m2t model file (default: the shipped one)")
    ap.add_argument("--images", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--codecs", default="m2t,webp,avif,heic,jpeg")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--plot", default="docs/rd.png")
    args = ap.parse_args()
    images = sorted(os.path.join(args.images, f) for f in os.listdir(args.images)
                    if f.lower().endswith(".png"))
    if args.limit:
        images = images[:args.limit]
    wanted = args.codecs.split(",")
    results = {"images": len(images)}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        images = clean_copies(images, tmp)
        for codec in codecs(args.m2t, args.model, args.threads):
            if codec.name not in wanted:
                continue
            results[codec.name] = []
            for s in codec.settings:
                r = measure(codec, s, images, tmp)
                results[codec.name].append(r)
                print("%-5s %4s  %.4f bpp  %.2f dB" % (codec.name, s, r["bpp"], r["psnr"]), flush=True)
    write_report(results, args.out, args.plot, args, time.time() - t0)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
