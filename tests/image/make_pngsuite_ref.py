#!/usr/bin/python3
"""Writes tests/data/pngsuite_ref.txt: what m2t_image_decode must give for
every file of PngSuite, computed WITHOUT libm2t (Pillow and numpy only).

    tests/image/make_pngsuite_ref.py [PNGSUITE_DIR] [OUTPUT]

defaults: ../shared/data/pngsuite and tests/data/pngsuite_ref.txt, relative
to the project root. Run it again only if the suite or the rules change.

One line per file, sorted by name:

    name width height channels outcome crc32

outcome is one of
    ok                 decodes; crc32 is the zlib CRC-32 (8 hex digits) of the
                       expected pixels: 8-bit, rows top to bottom, channels
                       interleaved, 1 channel for gray, 3 for colour
    unsupported-alpha  some pixel is not fully opaque: M2T_ERROR_IMAGE_UNSUPPORTED
    error-format       no PNG signature in the first 8 bytes (README, LICENSE
                       and the x files with a damaged signature):
                       M2T_ERROR_IMAGE_FORMAT
    error-corrupt      a PNG signature, but a file the suite marks as broken
                       (name starting with 'x'): M2T_ERROR_IMAGE_CORRUPT
width, height and channels are 0 and crc32 is '-' where there are no pixels to
compare.

The rules m2t follows, applied here from first principles:
  - palette images become RGB (even when the palette is all gray);
  - gray of 1, 2 or 4 bits is scaled to 8 bits by bit replication
    (v * 255 / (2^bits - 1), exact);
  - 16-bit samples become (v * 255 + 32767) // 65535 (round to nearest);
  - gamma (gAMA), sBIT, colour-space chunks and bKGD are NOT applied: the
    stored samples are what the codec compresses;
  - alpha comes from the alpha channel or from tRNS (a palette entry's alpha,
    or the one gray / RGB value that is transparent, compared at the stored
    bit depth); an image is accepted only if all of it is fully opaque, and
    its alpha is then dropped.

Where Pillow is not a faithful reference
  Pillow reads 16-bit gray exactly (mode "I"), but it reduces 16-bit RGB,
  RGBA and gray+alpha to 8 bits by TRUNCATION (it keeps the high byte), so it
  cannot give the rounded values. For every 16-bit file this script therefore
  decodes the samples itself (zlib + the five PNG filters + Adam7, below) and
  checks that result against Pillow: exactly for 16-bit gray, on the high
  byte for the others. Pillow's tRNS value for gray images of 1-4 bits is
  also not on the scale of its (replicated) pixels, so the tRNS chunk is read
  here directly and compared against the stored samples.
"""

import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Adam7 passes: (x start, y start, x step, y step).
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]

# Samples per pixel of each PNG colour type.
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def read_chunks(data):
    """Returns {type: [payload, ...]} of a well-formed PNG (no CRC check:
    only files the suite declares valid are parsed)."""
    chunks = {}
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.setdefault(kind.decode("ascii"), []).append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    return chunks


def parse_ihdr(chunks):
    width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks["IHDR"][0])
    return width, height, depth, ctype, interlace


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(raw, pos, width, height, bpp):
    """Undoes the per-row filters of one (sub)image of bpp-byte pixels.
    Returns (rows as a uint8 array, position after it)."""
    stride = width * bpp
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = [0] * stride
    for y in range(height):
        kind = raw[pos]
        line = list(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            line[i] = (line[i] + predictor) & 0xFF
        out[y] = line
        prev = line
    return out, pos


def decode_16bit(chunks):
    """Stored samples of a 16-bit, non-palette PNG: uint16 (h, w, samples)."""
    width, height, depth, ctype, interlace = parse_ihdr(chunks)
    assert depth == 16 and ctype != 3
    samples = SAMPLES[ctype]
    bpp = 2 * samples
    raw = zlib.decompress(b"".join(chunks["IDAT"]))
    image = np.zeros((height, width, samples), dtype=np.uint16)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    pos = 0
    for x0, y0, dx, dy in passes:
        w = (width - x0 + dx - 1) // dx
        h = (height - y0 + dy - 1) // dy
        if w == 0 or h == 0:
            continue  # an empty pass has no bytes at all, not even filter bytes
        rows, pos = unfilter(raw, pos, w, h, bpp)
        values = rows.reshape(h, w, samples, 2).astype(np.uint16)
        image[y0::dy, x0::dx] = (values[..., 0] << 8) | values[..., 1]
    return image


def check_16bit_against_pillow(samples, ctype, im):
    """Our 16-bit decode must agree with Pillow as far as Pillow goes."""
    pil = np.array(im)
    if ctype == 0:
        assert np.array_equal(pil, samples[..., 0]), "16-bit gray differs from Pillow"
        return
    high = samples >> 8
    if ctype == 4:  # Pillow gives gray+alpha as RGBA: L, L, L, A
        expected = np.stack([high[..., 0]] * 3 + [high[..., 1]], axis=-1)
    else:
        expected = high
    assert np.array_equal(pil, expected), "16-bit colour differs from Pillow's high byte"


def stored_samples(path, chunks):
    """Samples at the stored bit depth, (h, w, samples), gray <8 bits as raw
    values; for palette images, the indices (h, w, 1)."""
    _, _, depth, ctype, _ = parse_ihdr(chunks)
    with Image.open(path) as im:
        im.load()
        if depth == 16:
            samples = decode_16bit(chunks)
            check_16bit_against_pillow(samples, ctype, im)
            return samples
        pil = np.array(im)
    if pil.dtype == bool:               # 1-bit gray: Pillow mode "1"
        pil = pil.astype(np.uint8) * 255
    if pil.ndim == 2:
        pil = pil[..., None]
    if ctype == 0 and depth < 8:        # undo Pillow's bit replication
        scale = 255 // ((1 << depth) - 1)
        assert np.all(pil % scale == 0)
        pil = pil // scale
    assert pil.shape[2] == SAMPLES[ctype]
    return pil.astype(np.uint16)


def to_8bit(samples, ctype, depth):
    """The 8-bit value of each stored sample, by m2t's rules."""
    if depth == 16:
        return ((samples.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if depth < 8:
        return (samples * (255 // ((1 << depth) - 1))).astype(np.uint8)
    return samples.astype(np.uint8)


def expected_image(path, chunks):
    """(pixels uint8 (h, w, 1 or 3), fully opaque?)"""
    _, _, depth, ctype, _ = parse_ihdr(chunks)
    samples = stored_samples(path, chunks)
    trns = chunks.get("tRNS", [None])[0]
    if ctype == 3:
        palette = np.frombuffer(chunks["PLTE"][0], dtype=np.uint8).reshape(-1, 3)
        alpha_of = np.full(256, 255, dtype=np.uint8)
        if trns is not None:
            alpha_of[:len(trns)] = np.frombuffer(trns, dtype=np.uint8)
        index = samples[..., 0]
        return palette[index], bool(np.all(alpha_of[index] == 255))
    if ctype in (4, 6):
        colour, alpha = samples[..., :-1], samples[..., -1]
        opaque = bool(np.all(alpha == (1 << depth) - 1))
    else:
        colour, opaque = samples, True
        if trns is not None:
            key = np.array(struct.unpack(">%dH" % SAMPLES[ctype], trns), dtype=np.uint16)
            opaque = not bool(np.any(np.all(samples == key, axis=-1)))
    return to_8bit(colour, ctype, depth), opaque


def reference_line(path):
    name = os.path.basename(path)
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(PNG_SIGNATURE):
        return "%s 0 0 0 error-format -" % name
    if name.startswith("x"):
        return "%s 0 0 0 error-corrupt -" % name
    chunks = read_chunks(data)
    pixels, opaque = expected_image(path, chunks)
    height, width, channels = pixels.shape
    if not opaque:
        return "%s %d %d %d unsupported-alpha -" % (name, width, height, channels)
    crc = zlib.crc32(np.ascontiguousarray(pixels).tobytes())
    return "%s %d %d %d ok %08x" % (name, width, height, channels, crc)


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    default_suite = os.path.join(root, "..", "shared", "data", "pngsuite")
    default_output = os.path.join(root, "tests", "data", "pngsuite_ref.txt")
    suite = sys.argv[1] if len(sys.argv) > 1 else default_suite
    output = sys.argv[2] if len(sys.argv) > 2 else default_output
    names = sorted(n for n in os.listdir(suite) if os.path.isfile(os.path.join(suite, n)))
    lines = [reference_line(os.path.join(suite, n)) for n in names]
    with open(output, "w") as f:
        f.write("# PngSuite reference for m2t_image_decode: written by "
                "tests/image/make_pngsuite_ref.py (see there); do not edit\n")
        f.write("# name width height channels outcome crc32\n")
        f.write("\n".join(lines) + "\n")
    print("%d files -> %s" % (len(lines), output))


if __name__ == "__main__":
    main()
