#!/usr/bin/python3
"""Writes the references of the codec tests (tests/ref/codec_*.safetensors).

The reference is the training code itself (train/m2t/schedule.py and
train/m2t/model.py): the C library must reproduce what PyTorch computes.

    /usr/bin/python3 tests/codec/make_codec_ref.py [output folder]

Files (all float32 safetensors, readable by lib/model/safetensors.c):

  codec_schedule.safetensors
      Token orders of square patches 1..32 (QLDS, raster, random), CRC-32s of
      the orders of every grid 1x1..32x32, and power-schedule group sizes.

  codec_tiny_m2t.safetensors, codec_tiny_mt.safetensors
      A tiny random Codec (analysis 8, synthesis 8, latents 16, d 32, 2 layers,
      2 heads, 3 mixtures, patch 4, 5 steps) exported exactly as the shipped
      model is (train/m2t/weights.py, dtype F32), in M2T and in MT mode.

  codec_tiny_long_schedule.safetensors
      A minute model (patch 33, 1025 steps) whose default schedule does not
      fit the bitstream (at most 1024 steps): the library must refuse it.

  codec_tiny_m2t_expected.safetensors, codec_tiny_mt_expected.safetensors
      What PyTorch computes with that model, stage by stage:
        image A (72 x 40, stored): latents before and after rounding at two
        qualities, and the synthesis output (clamped, times 255);
        image B (1050 x 275, procedural, 2 x 2 transform tiles): latents at one
        quality, the synthesis output around the corner of the four tiles,
        the entropy-model head outputs of two patches (one full, one cut by
        the grid's corner), their mixtures and the latents a progressive
        decode of PREVIEW_STEPS steps holds for them, and the ideal rate
        (-log2 likelihood) of all the patches.

Rounding ties: torch.round and the C library's nearbyintf agree, but the
float latents of C and PyTorch differ in the last bits, so a value within a
hair of n + 0.5 may round either way. Image A is checked to have no latent
within TIE_MARGIN of a tie at its qualities (the seed is fixed; the script
fails if that ever changes); image B has thousands of latents and the test
allows tie flips there.
"""
import math
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "train"))

from m2t import model as M  # noqa: E402
from m2t import schedule as S  # noqa: E402
from m2t import weights as W  # noqa: E402

SEED = 20241126
TIE_MARGIN = 1e-3

TINY_CONFIG = dict(analysis_channels=8, synthesis_channels=8, latent_channels=16, model_dim=32,
                   layers=2, heads=2, mlp_ratio=4, mixtures=3, patch=4, steps=5, alpha=2.2,
                   order="qlds")

IMAGE_A_SIZE = (72, 40)              # width, height: neither a multiple of 16
IMAGE_A_QUALITIES = (2, 7)
IMAGE_B_SIZE = (1050, 275)           # latents 66 x 18: transform tiles 2 x 2
IMAGE_B_QUALITY = 5
IMAGE_B_PATCHES = ((0, 0), (16, 4))  # (px, py): a full patch, the corner patch
CORNER_WINDOW = (224, 275, 992, 1050)  # rows [y0, y1), columns [x0, x1) of image B
PREVIEW_STEPS = 2                     # progressive decode of the patches above

# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------

SCHEDULE_ALPHAS = (0.5, 1.0, 2.2, 3.3)
SCHEDULE_PATCHES = (1, 2, 3, 4, 5, 8, 16)
# (patch, steps, order) of whole EntropyModel schedules: order, group sizes
# and the M2T input slots ("source") as the training code builds them.
MODEL_SCHEDULES = ((4, 5, "qlds"), (16, 12, "qlds"), (3, 9, "qlds"), (5, 1, "qlds"),
                   (8, 20, "random"), (6, 7, "raster"))


def schedule_steps(n):
    """Every S for small patches; for larger ones the small S, a spread, and N."""
    if n <= 64:
        return list(range(1, n + 1))
    steps = set(range(1, 33)) | {48, 64, 100, 128, 200, 255, 256}
    return sorted(steps & set(range(1, n + 1)))


def order_crc(order):
    return zlib.crc32(np.asarray(order, dtype="<u2").tobytes()) & 0xFFFFFFFF


def schedule_reference():
    out = {}
    for kind in ("qlds", "raster", "random"):
        square = []
        for side in range(1, 33):
            square += S.make_order(kind, side, side)
        out["order.%s.square" % kind] = np.array(square, dtype=np.float32)
        # CRC-32 of every h x w order (uint16 little-endian), split in 16-bit
        # halves so that float32 holds them exactly.
        crcs = np.zeros((32, 32, 2), dtype=np.float32)
        for h in range(1, 33):
            for w in range(1, 33):
                c = order_crc(S.make_order(kind, h, w))
                crcs[h - 1, w - 1] = (c >> 16, c & 0xFFFF)
        out["order.%s.crc" % kind] = crcs
    # Group sizes, concatenated over (patch, alpha, steps) in the loop order
    # below; the C test walks the same loops. alpha is given as a double (the
    # C function takes one) and rounded to float32 (the schedule the codec
    # builds from the model's float alpha): both lists are stored.
    for name, cast in (("double", float), ("float", lambda a: float(np.float32(a)))):
        sizes = []
        for wt in SCHEDULE_PATCHES:
            for alpha in SCHEDULE_ALPHAS:
                for s in schedule_steps(wt * wt):
                    sizes += S.group_sizes(wt * wt, s, cast(alpha))
        out["group_sizes.%s" % name] = np.array(sizes, dtype=np.float32)
    for wt, steps, kind in MODEL_SCHEDULES:
        cfg = dict(latent_channels=1, model_dim=2, layers=0, heads=1, mlp_ratio=1, mixtures=1,
                   patch=wt, steps=steps, alpha=float(np.float32(2.2)), order=kind)
        em = M.EntropyModel(cfg)
        name = "model.%d_%d_%s" % (wt, steps, kind)
        out[name + ".order"] = em.order.numpy().astype(np.float32)
        out[name + ".sizes"] = np.array(em.group_sizes, dtype=np.float32)
        out[name + ".source"] = em.source.numpy().astype(np.float32)
    out["group_sizes.patches"] = np.array(SCHEDULE_PATCHES, dtype=np.float32)
    out["group_sizes.alphas"] = np.array(SCHEDULE_ALPHAS, dtype=np.float32)
    out["group_sizes.steps"] = np.concatenate(
        [np.array(schedule_steps(wt * wt), dtype=np.float32) for wt in SCHEDULE_PATCHES])
    out["group_sizes.step_counts"] = np.array(
        [len(schedule_steps(wt * wt)) for wt in SCHEDULE_PATCHES], dtype=np.float32)
    return out


# ---------------------------------------------------------------------------
# The tiny model
# ---------------------------------------------------------------------------

def randomize(codec):
    """Parameters away from their (too regular) initial values, kept tame:
    GDNs stay well conditioned and the mixtures predict the latents well
    enough that few values fall outside the coder's 6-sigma support."""
    g = torch.Generator().manual_seed(SEED + 1)

    def rnd(*shape):
        return torch.randn(*shape, generator=g)

    with torch.no_grad():
        for gdn in list(codec.analysis.gdns) + list(codec.synthesis.igdns):
            c = gdn.beta_sqrt.shape[0]
            gdn.beta_sqrt.copy_(0.7 + 0.3 * torch.rand(c, generator=g))
            gdn.gamma_sqrt.copy_(math.sqrt(0.1) * torch.eye(c) +
                                 0.1 * torch.rand(c, c, generator=g))
        c = codec.cfg["latent_channels"]
        codec.log_gain_a.add_(0.2 * rnd(*codec.log_gain_a.shape) + 2.5)
        codec.log_gain_s.add_(0.2 * rnd(*codec.log_gain_s.shape) - 2.5)
        em = codec.entropy
        em.mask_token.copy_(0.5 * rnd(*em.mask_token.shape))
        em.pos.copy_(0.5 * rnd(*em.pos.shape))
        em.quality.copy_(0.5 * rnd(*em.quality.shape))
        for ln in [b.ln1 for b in em.blocks] + [b.ln2 for b in em.blocks] + [em.ln_out]:
            ln.weight.copy_(1.0 + 0.2 * rnd(*ln.weight.shape))
            ln.bias.copy_(0.2 * rnd(*ln.bias.shape))
        k = codec.cfg["mixtures"]
        em.head.weight.copy_(0.08 * rnd(*em.head.weight.shape))
        bias = em.head.bias.view(c, 3, k)
        bias[:, 0].copy_(0.5 * rnd(c, k))           # weight logits
        bias[:, 1].copy_(0.5 * rnd(c, k))           # means
        bias[:, 2].copy_(0.8 + 0.3 * rnd(c, k))     # scale logits: scales near 2.3
        bias[3, 2, 1] = 5.0                          # over LOG_SCALE_MAX: the clamp acts
    return codec


def tiny_codec(mode):
    torch.manual_seed(SEED)
    return randomize(M.Codec(dict(TINY_CONFIG, mode=mode))).eval()


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------

def image_a():
    """Smooth colour ramps plus noise, (H, W, 3) uint8; stored in the file."""
    w, h = IMAGE_A_SIZE
    g = torch.Generator().manual_seed(SEED + 2)
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    base = torch.stack([x * 3.0, y * 5.0, (x + y) * 2.0], dim=-1)
    noise = 40.0 * torch.rand(h, w, 3, generator=g)
    return (base + noise).clamp(0, 255).round().to(torch.uint8).numpy()


def image_b():
    """Integer pattern the C test computes with the same formula (no file)."""
    w, h = IMAGE_B_SIZE
    y, x = np.meshgrid(np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64), indexing="ij")
    img = np.zeros((h, w, 3), dtype=np.uint8)
    for c in range(3):
        img[..., c] = ((x * (c + 2) + y * (3 - c) + ((x * y) >> (c + 5))) & 255).astype(np.uint8)
    return img


def to_input(rgb):
    """uint8 (H, W, 3) -> (1, 3, H', W') in [0, 1], edge-padded to multiples of 16."""
    h, w = rgb.shape[:2]
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    return F.pad(x, (0, -w % 16, 0, -h % 16), mode="replicate")


def hwc(t):
    return t[0].permute(1, 2, 0).contiguous().numpy()


def latents(codec, rgb, quality):
    """Unrounded gained latents (1, C, h, w) for quality 1..8."""
    return codec.encode_latents(to_input(rgb), torch.tensor([quality - 1]))


def near_ties(y):
    frac = torch.abs(y) - torch.floor(torch.abs(y))
    return int((torch.abs(frac - 0.5) < TIE_MARGIN).sum())


def reconstruction(codec, y_hat, quality, height, width):
    """Synthesis output clamped to [0, 1], times 255, (H, W, 3) float."""
    x = codec.decode_latents(y_hat, torch.tensor([quality - 1])).clamp(0, 1)
    return hwc(x[..., :height, :width] * 255.0)


# ---------------------------------------------------------------------------
# Entropy model
# ---------------------------------------------------------------------------

def patch_grid(y_hat, wt):
    """Rounded latents padded to whole patches, and the mask of real positions,
    both as (P, wt*wt, ...) in the codec's patch order (raster over patches)."""
    _, c, lh, lw = y_hat.shape
    eh, ew = -lh % wt, -lw % wt
    tokens = M.to_patches(F.pad(y_hat, (0, ew, 0, eh)), wt)
    present = torch.zeros(1, 1, lh + eh, lw + ew)
    present[..., :lh, :lw] = 1.0
    present = M.to_patches(present, wt)[..., 0] > 0.5
    return tokens, present, (lw + ew) // wt


def group_of_position(em):
    group = torch.empty(em.n_tokens, dtype=torch.long)
    start = 0
    for g, n in enumerate(em.group_sizes):
        group[em.order[start:start + n]] = g
        start += n
    return group


def mt_step_outputs(em, tokens, q, present):
    """Head outputs of every MT step as the coder runs them: at step g the
    known positions are those of groups < g, and the absent ones (known
    zeros). (S, P, N, 3KC)."""
    group = group_of_position(em)
    outs = []
    for g in range(len(em.group_sizes)):
        known = (group < g)[None, :].expand_as(present)
        outs.append(em.forward_mt(tokens, q, known, present))
    return torch.stack(outs)


def preview_tokens(codec, tokens, q, present, steps):
    """What a progressive decode of `steps` steps holds for one patch: the
    tokens of the first groups, then each later group's mixture means, each
    step seeing the means of the steps before it as context (patch_coder.c)."""
    em, cfg = codec.entropy, codec.cfg
    group = group_of_position(em)
    ctx = tokens.clone()
    for g in range(steps, len(em.group_sizes)):
        if cfg["mode"] == "m2t":
            out = em.forward_m2t(ctx, q, present)
        else:
            out = em.forward_mt(ctx, q, (group < g)[None, :].expand_as(present), present)
        weights, means, _ = M.mixture_params(out, cfg["latent_channels"], cfg["mixtures"])
        ctx[:, group == g] = M.mixture_mean(weights, means)[:, group == g]
        ctx = M.absent_as_zeros(ctx, present)   # absent positions stay 0
    return ctx


def ideal_bits(codec, tokens, q, present):
    """-log2 likelihood of the real tokens under the coder's distributions."""
    em, cfg = codec.entropy, codec.cfg
    c, k = cfg["latent_channels"], cfg["mixtures"]
    if cfg["mode"] == "m2t":
        out = em.forward_m2t(tokens, q, present)
    else:
        # Each position's distribution comes from the step of its group.
        steps = mt_step_outputs(em, tokens, q, present)
        group = group_of_position(em)
        out = steps[group, :, torch.arange(em.n_tokens)].transpose(0, 1)
    like = M.mixture_likelihood(tokens, *M.mixture_params(out, c, k))
    return float((-torch.log2(like).sum(-1) * present).sum())


def entropy_reference(codec, y_hat, quality, out):
    em, cfg = codec.entropy, codec.cfg
    wt, c, k = cfg["patch"], cfg["latent_channels"], cfg["mixtures"]
    tokens, present, patches_x = patch_grid(y_hat, wt)
    q = torch.full((tokens.shape[0],), quality - 1, dtype=torch.long)
    out["b.bits"] = np.array([ideal_bits(codec, tokens, q, present)], dtype=np.float32)
    for px, py in IMAGE_B_PATCHES:
        i = py * patches_x + px
        name = "b.patch%d_%d" % (px, py)
        t, p, qq = tokens[i:i + 1], present[i:i + 1], q[i:i + 1]
        if cfg["mode"] == "m2t":
            head = em.forward_m2t(t, qq, p)[0]                  # (N, 3KC), raster
        else:
            steps = mt_step_outputs(em, t, qq, p)[:, 0]         # (S, N, 3KC)
            out[name + ".steps"] = steps.numpy()
            group = group_of_position(em)
            head = steps[group, torch.arange(em.n_tokens)]      # each position's own step
            # One more MT pass with an arbitrary mask (every third position).
            known = (torch.arange(em.n_tokens) % 3 == 0)[None] & p
            out[name + ".random_known"] = known[0].float().numpy()
            out[name + ".random_head"] = em.forward_mt(t, qq, known)[0].numpy()
        weights, means, scales = M.mixture_params(head, c, k)
        out[name + ".preview%d" % PREVIEW_STEPS] = preview_tokens(codec, t, qq, p,
                                                                   PREVIEW_STEPS)[0].numpy()
        out[name + ".head"] = head.numpy()
        out[name + ".weights"] = weights.numpy()
        out[name + ".means"] = means.numpy()
        out[name + ".scales"] = scales.numpy()


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

def expected(codec):
    out = {}
    a = image_a()
    h, w = a.shape[:2]
    out["a.image"] = a.astype(np.float32)
    for quality in IMAGE_A_QUALITIES:
        y = latents(codec, a, quality)
        if near_ties(y):
            raise SystemExit("image A has a latent within %g of a rounding tie at quality %d: "
                             "change SEED" % (TIE_MARGIN, quality))
        y_hat = torch.round(y)
        out["a.q%d.latents" % quality] = hwc(y)
        out["a.q%d.latents_rounded" % quality] = hwc(y_hat)
        out["a.q%d.reconstruction" % quality] = reconstruction(codec, y_hat, quality, h, w)

    b = image_b()
    h, w = b.shape[:2]
    y = latents(codec, b, IMAGE_B_QUALITY)
    y_hat = torch.round(y)
    out["b.latents"] = hwc(y)
    out["b.latents_rounded"] = hwc(y_hat)
    y0, y1, x0, x1 = CORNER_WINDOW
    out["b.corner"] = reconstruction(codec, y_hat, IMAGE_B_QUALITY, h, w)[y0:y1, x0:x1]
    entropy_reference(codec, y_hat, IMAGE_B_QUALITY, out)
    meta = {"image_a_qualities": ",".join(map(str, IMAGE_A_QUALITIES)),
            "image_b_quality": IMAGE_B_QUALITY,
            "image_b_patches": ";".join("%d,%d" % p for p in IMAGE_B_PATCHES),
            "corner_window": ",".join(map(str, CORNER_WINDOW)),
            "preview_steps": PREVIEW_STEPS,
            "b_near_ties": near_ties(y)}
    return out, meta


def write(path, tensors, meta):
    arrays = {k: np.ascontiguousarray(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
    meta = dict(meta, generator="tests/codec/make_codec_ref.py", torch=torch.__version__, seed=SEED)
    W.write_safetensors(path, arrays, meta, dtype="F32")
    print("%s: %d tensors, %d bytes" % (path, len(arrays), os.path.getsize(path)))


def long_schedule_codec():
    """Patch 33 x 33 and 1025 steps: a valid Codec, not a codable one."""
    torch.manual_seed(SEED)
    cfg = dict(analysis_channels=2, synthesis_channels=2, latent_channels=2, model_dim=4,
               layers=1, heads=1, mlp_ratio=1, mixtures=1, patch=33, steps=1025, alpha=2.2,
               order="raster")
    return M.Codec(cfg)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "ref")
    os.makedirs(folder, exist_ok=True)
    torch.set_num_threads(1)
    write(os.path.join(folder, "codec_schedule.safetensors"), schedule_reference(), {})
    with torch.no_grad():
        W.export_safetensors(long_schedule_codec(),
                             os.path.join(folder, "codec_tiny_long_schedule.safetensors"),
                             facts={"name": "tiny-long-schedule"}, dtype="F32")
        for mode in ("m2t", "mt"):
            codec = tiny_codec(mode)
            W.export_safetensors(codec, os.path.join(folder, "codec_tiny_%s.safetensors" % mode),
                                 facts={"name": "tiny-%s" % mode}, dtype="F32")
            tensors, meta = expected(codec)
            write(os.path.join(folder, "codec_tiny_%s_expected.safetensors" % mode), tensors, meta)


if __name__ == "__main__":
    main()
