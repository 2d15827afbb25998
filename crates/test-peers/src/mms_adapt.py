"""An MMS channel simulator: adapts the image parts of messages the way MMSCs and phones do,
written from the published limits (OMA MMS CONF content classes, AOSP's MmsConfig and resize
loop, Signal's MMS constraints) and sharing no code with the platform it checks.

    python mms_adapt.py < manifest.json

The manifest is one JSON object:

    {"box": [640, 480] | null, "longest": 1024 | null, "budget": 102400,
     "mode": "handset" | "transcoder",
     "messages": [{"parts": ["a.png", "b.png", ...], "out": "/dir/prefix"}, ...]}

`box` is the class's resolution, either orientation (the long side within the larger number,
the short side within the smaller); `longest` bounds the longest side instead (Signal's 1024 px).
The budget counts the image parts plus MESSAGE_OVERHEAD bytes for SMIL, text and headers, as
AOSP does.

Modes:
  handset     (AOSP's compose path) an image inside the box is left as it is while the message
              fits the budget; an image outside it is fitted and re-encoded as JPEG. If the
              message is then over the budget, every image is re-encoded.
  transcoder  (an MMSC's content adaptation, "converts images to JPEG") every image is fitted
              and re-encoded as JPEG.

Re-encoding fits the box, then tries JPEG quality 95, 90, ... 50 (one quality for all images of
the message) until the message fits; when quality 50 is still too large, it scales by another
0.75 and tries again, at most four scalings (AOSP's NUMBER_OF_RESIZE_ATTEMPTS). Sizes fall with
quality, so the quality the loop stops at is found by bisection over the same steps (quality 50
first: when even that is too large, the loop would only have stepped down to it).

For each message one JSON line is printed: {"parts": [paths written], "scale": the smallest
scale any image got, "quality": q or null, "bytes": b, "fits": bool}.
"""

import io
import json
import sys

from PIL import Image

MESSAGE_OVERHEAD = 5000
QUALITIES = list(range(95, 49, -5))
SCALE_STEP = 0.75
RESIZE_ATTEMPTS = 4


def fit_scale(size, box, longest):
    w, h = size
    if longest:
        return min(1.0, longest / max(w, h))
    big, small = max(box), min(box)
    return min(1.0, big / max(w, h), small / min(w, h))


def inside(size, box, longest):
    return fit_scale(size, box, longest) >= 1.0


def jpeg(im, scale, quality):
    if scale < 1.0:
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def encode_all(images, scales, keep, quality):
    """The parts at `quality`: kept ones (None in `keep`) as they came."""
    return [k if k is not None else jpeg(im, s, quality) for im, s, k in zip(images, scales, keep)]


def total(parts):
    return sum(len(p) for p in parts) + MESSAGE_OVERHEAD


def adapt(raw, box, longest, budget, mode):
    """(parts, the smallest scale any image got, quality or None)."""
    images = []
    for data in raw:
        im = Image.open(io.BytesIO(data))
        im.load()
        images.append(im.convert("RGB"))
    fits_box = [inside(im.size, box, longest) for im in images]
    if mode == "handset":
        keep = [data if f else None for data, f in zip(raw, fits_box)]
        base = [fit_scale(im.size, box, longest) for im in images]
        first = encode_all(images, base, keep, QUALITIES[0])
        if total(first) <= budget:
            return first, min(base), (None if all(fits_box) else QUALITIES[0])
    keep = [None] * len(images)
    parts, scales = None, None
    for attempt in range(RESIZE_ATTEMPTS):
        scales = [fit_scale(im.size, box, longest) * SCALE_STEP**attempt for im in images]
        parts = encode_all(images, scales, keep, QUALITIES[-1])
        if total(parts) > budget:
            continue
        # The highest quality whose message fits: the first the stepping loop would accept.
        best, lo, hi = (parts, QUALITIES[-1]), 0, len(QUALITIES) - 2
        while lo <= hi:
            mid = (lo + hi) // 2
            p = encode_all(images, scales, keep, QUALITIES[mid])
            if total(p) <= budget:
                best, hi = (p, QUALITIES[mid]), mid - 1
            else:
                lo = mid + 1
        return best[0], min(scales), best[1]
    return parts, min(scales), QUALITIES[-1]


def main():
    manifest = json.load(sys.stdin)
    box, longest = manifest.get("box"), manifest.get("longest")
    budget, mode = manifest["budget"], manifest["mode"]
    for msg in manifest["messages"]:
        raw = []
        for path in msg["parts"]:
            with open(path, "rb") as f:
                raw.append(f.read())
        parts, scale, quality = adapt(raw, box, longest, budget, mode)
        written = []
        for i, (data, src) in enumerate(zip(parts, raw)):
            path = "%s-%d.%s" % (msg["out"], i + 1, "png" if data is src else "jpg")
            with open(path, "wb") as f:
                f.write(data)
            written.append(path)
        line = {"parts": written, "scale": scale, "quality": quality, "bytes": total(parts),
                "fits": total(parts) <= budget}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
