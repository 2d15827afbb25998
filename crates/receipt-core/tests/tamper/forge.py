"""Forgeries and benign re-saves of a genuine receipt, made with Pillow (and pyoxipng) as a
forger or an ordinary user would make them. Driven by the tamper suite (adversarial.rs,
tools.rs), which writes into DIR:

  genuine.png   the terminal's own file (with its `ereceipt` tEXt chunk)
  altered.png   the same slip with the amount edited, pure levels (what a forger wants shown)
  mask.png      8-bit grey: 0 = ink the edit adds, 128 = ink the edit removes, 64 = faint
                strokes placed in blank blocks, 255 = unchanged

and then runs `python forge.py DIR NAME...`; each NAME (a file name listed in MAKERS) is
written to DIR/NAME. Every forgery keeps what the verifier reads (the default image, the
luma, the text chunk) close to the genuine slip, while some common viewer shows the edit.
"""

import io
import struct
import sys
import zlib
from pathlib import Path

import oxipng
from PIL import Image, PngImagePlugin

KEY = "ereceipt"
ADD, REMOVE, FAINT = 0, 128, 64


class Slip:
    def __init__(self, d: Path):
        self.dir = d
        self.file = (d / "genuine.png").read_bytes()
        self.im = Image.open(d / "genuine.png")
        self.im.load()
        self.text = self.im.info.get(KEY)
        self.grey = self.im.convert("L")
        self.altered = Image.open(d / "altered.png").convert("L")
        self.mask = Image.open(d / "mask.png").convert("L")
        self.size = self.im.size
        w = self.size[0]
        self.marked = {}
        for i, v in enumerate(self.mask.tobytes()):
            if v != 255:
                self.marked.setdefault(v, []).append((i % w, i // w))

    def info(self, *chunks) -> PngImagePlugin.PngInfo:
        """The receipt's text chunk, plus raw chunks before the image data."""
        info = PngImagePlugin.PngInfo()
        if self.text is not None:
            info.add_text(KEY, self.text)
        for cid, data in chunks:
            info.add(cid, data)
        return info

    def where(self, value):
        """Coordinates of the mask pixels equal to `value`."""
        return self.marked.get(value, [])

    def painted(self, mode, levels):
        """The genuine slip in `mode` with the mask's pixels painted: `levels` maps a mask value
        to the colour drawn there (mask values not in it keep the genuine pixel)."""
        out = self.grey.convert(mode)
        px = out.load()
        for value, colour in levels.items():
            for xy in self.where(value):
                px[xy] = colour
        return out


def png(im, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def png_chunk(cid: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + cid + data + struct.pack(">I", zlib.crc32(cid + data))


def after_ihdr(file: bytes, chunk: bytes) -> bytes:
    """`chunk` inserted after IHDR (Pillow writes no chunk it does not know, unless private)."""
    end = 8 + 12 + 13
    return file[:end] + chunk + file[end:]


def jpeg(im, quality=90, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


# ---- ICC profile ---------------------------------------------------------------------------


def s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def xyz(x, y, z) -> bytes:
    return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)


def srgb_linear(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def forged_level(i: int) -> int:
    """What a colour-managed viewer shows for level i under the forged profile: near-paper
    greys (200-239) become black, ink lifted to 20-60 becomes white, the rest is sRGB."""
    if 200 <= i <= 239:
        return 0
    if 20 <= i <= 60:
        return 255
    return i


def icc_profile() -> bytes:
    """An ICC v2 RGB display profile with sRGB primaries whose tone curves are sRGB except for
    the two bands of `forged_level`."""
    curve = [round(srgb_linear(forged_level(i) / 255) * 65535) for i in range(256)]
    desc_text = b"ereceipt forged grey map\0"
    desc = (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(desc_text))
        + desc_text
        + b"\0" * 8
        + b"\0" * 3
        + b"\0" * 67
    )
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", b"curv\0\0\0\0" + struct.pack(">I", 256) + struct.pack(">256H", *curve)),
        (b"cprt", b"text\0\0\0\0public domain\0"),
    ]
    shared = {b"gTRC": b"rTRC", b"bTRC": b"rTRC"}
    count = len(tags) + len(shared)
    offset = 128 + 4 + 12 * count
    table, body, where = b"", b"", {}
    for sig, data in tags:
        while len(data) % 4:
            data += b"\0"
        where[sig] = (offset + len(body), len(data))
        body += data
    for sig, _ in tags:
        table += sig + struct.pack(">II", *where[sig])
    for sig, same in shared.items():
        table += sig + struct.pack(">II", *where[same])
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24
        + b"\0" * 4
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", count) + table + body


# ---- JPEG segments -------------------------------------------------------------------------


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def replace_app0(jpg: bytes, app0: bytes) -> bytes:
    """`jpg` (as Pillow writes it: SOI then a JFIF APP0) with its APP0 replaced."""
    assert jpg[2:4] == b"\xff\xe0"
    n = struct.unpack(">H", jpg[4:6])[0]
    return jpg[:2] + app0 + jpg[4 + n :]


def exif_with_thumbnail(thumb: bytes) -> bytes:
    """An EXIF block (big-endian TIFF): IFD0 with orientation 1, IFD1 holding a JPEG
    thumbnail, as cameras and phones write it."""
    ifd0 = 8
    ifd1 = ifd0 + 2 + 12 + 4
    data = ifd1 + 2 + 3 * 12 + 4
    tiff = b"MM\0*" + struct.pack(">I", ifd0)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 1, 0) + struct.pack(">I", ifd1)
    tiff += struct.pack(">H", 3)
    tiff += struct.pack(">HHIHH", 0x0103, 3, 1, 6, 0)
    tiff += struct.pack(">HHII", 0x0201, 4, 1, data)
    tiff += struct.pack(">HHII", 0x0202, 4, 1, len(thumb))
    tiff += struct.pack(">I", 0)
    assert len(tiff) == data
    return b"Exif\0\0" + tiff + thumb


def orientation(n: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = n
    return exif.tobytes()


# ---- Forgeries -----------------------------------------------------------------------------


def apng(s: Slip) -> bytes:
    # The default image (IDAT) is the genuine slip; the only animation frame is the edit:
    # APNG-aware viewers (every browser) show the frame, not the default image.
    return png(s.grey, save_all=True, append_images=[s.altered], default_image=True, pnginfo=s.info())


def iccp(s: Slip) -> bytes:
    im = s.painted("RGB", {ADD: (218,) * 3, REMOVE: (40,) * 3})
    return png(im, icc_profile=icc_profile(), pnginfo=s.info())


def gama(s: Slip) -> bytes:
    # gAMA 0.05: a viewer shows level v as (v/255)^20, so the faint strokes at 225 show dark.
    im = s.painted("L", {ADD: 225})
    return png(im, pnginfo=s.info((b"gAMA", struct.pack(">I", 5000))))


def chrm(s: Slip) -> bytes:
    # A white point far from D65 turns the grey slip's paper yellow in colour-managed viewers.
    values = [0.45, 0.41, 0.64, 0.33, 0.30, 0.60, 0.15, 0.06]
    return png(s.grey, pnginfo=s.info((b"cHRM", struct.pack(">8I", *(round(v * 100000) for v in values)))))


def cicp(s: Slip) -> bytes:
    # BT.2020 primaries, PQ transfer, full range: an HDR image to viewers that read cICP.
    im = s.painted("L", {ADD: 225})
    return png(im, pnginfo=s.info((b"cICP", bytes([9, 16, 0, 1]))))


def mdcv(s: Slip) -> bytes:
    data = struct.pack(">6H2H2I", 35400, 14600, 8500, 39850, 6550, 2300, 15635, 16450, 10000000, 1)
    return after_ihdr(png(s.grey, pnginfo=s.info()), png_chunk(b"mDCv", data))


def clli(s: Slip) -> bytes:
    return after_ihdr(png(s.grey, pnginfo=s.info()), png_chunk(b"cLLi", struct.pack(">2I", 10000000, 4000000)))


def trns(s: Slip) -> bytes:
    # Palette: the slip's grey levels, plus white made fully transparent by tRNS for the new
    # strokes. Composited over white they vanish; over a dark background (a mail client's dark
    # mode, a gallery's black frame) they show.
    levels = sorted(set(s.grey.tobytes()))
    im = Image.new("P", s.size)
    im.putpalette([v for lv in levels for v in (lv, lv, lv)] + [255, 255, 255])
    index = {lv: i for i, lv in enumerate(levels)}
    im.putdata([index[v] for v in s.grey.tobytes()])
    px = im.load()
    for xy in s.where(ADD):
        px[xy] = len(levels)
    return png(im, transparency=bytes([255] * len(levels) + [0]), pnginfo=s.info())


def alpha(s: Slip) -> bytes:
    im = s.painted("RGBA", {ADD: (255, 255, 255, 0)})
    return png(im, pnginfo=s.info())


def colour(s: Slip) -> bytes:
    # Orange strokes: luma 200, paper to a verifier that reads grey, plainly visible to people.
    return png(s.painted("RGB", {ADD: (255, 210, 0)}), pnginfo=s.info())


def grey200(s: Slip) -> bytes:
    return png(s.painted("L", {ADD: 200}), pnginfo=s.info())


def low_amplitude_png(s: Slip) -> bytes:
    return png(s.painted("L", {ADD: 195, REMOVE: 60}), pnginfo=s.info())


def sixteen(s: Slip) -> bytes:
    # High bytes: the genuine slip (what an 8-bit reader keeps); low bytes: the edit.
    data = bytearray(2 * len(s.grey.tobytes()))
    data[0::2] = s.altered.tobytes()  # little-endian I;16: low byte first
    data[1::2] = s.grey.tobytes()
    return png(Image.frombytes("I;16", s.size, bytes(data)), pnginfo=s.info())


def sbit(s: Slip) -> bytes:
    return png(s.grey, pnginfo=s.info((b"sBIT", bytes([4]))))


def exif_png(s: Slip) -> bytes:
    return png(s.grey, exif=orientation(3), pnginfo=s.info())


def critical(s: Slip) -> bytes:
    # Uppercase first letter: critical; viewers must refuse a file with one they do not know.
    return png(s.grey, pnginfo=s.info((b"XyZw", b"forged")))


def after_iend(s: Slip) -> bytes:
    return s.file + png(s.altered)


def second_idat(s: Slip) -> bytes:
    # After the genuine image data, another chunk, then a second IDAT holding the edited slip
    # (filter byte 0 per row): decoders that keep reading IDAT chunks see other rows.
    w, _ = s.size
    a = s.altered.tobytes()
    raw = b"".join(b"\0" + a[i : i + w] for i in range(0, len(a), w))
    extra = png_chunk(b"tEXt", b"Comment\0edited") + png_chunk(b"IDAT", zlib.compress(raw))
    file = png(s.grey, pnginfo=s.info())
    iend = file.rindex(b"IEND") - 4
    return file[:iend] + extra + file[iend:]


def icc_jpeg(s: Slip) -> bytes:
    im = s.painted("RGB", {ADD: (218,) * 3, REMOVE: (40,) * 3})
    return jpeg(im, icc_profile=icc_profile(), subsampling=0)


def adobe(s: Slip) -> bytes:
    # RGB components with Adobe APP14 transform 0: viewers that ignore APP14 take them for
    # YCbCr and show the slip green and magenta.
    return jpeg(s.grey.convert("RGB"), keep_rgb=True)


def cmyk(s: Slip) -> bytes:
    return jpeg(s.grey.convert("CMYK"))


def exif3(s: Slip) -> bytes:
    return jpeg(s.grey, exif=orientation(3))


def exif6(s: Slip) -> bytes:
    return jpeg(s.grey, exif=orientation(6))


def exif_thumb(s: Slip) -> bytes:
    w, h = s.size
    thumb = jpeg(s.altered.resize((160, h * 160 // w), Image.Resampling.LANCZOS), quality=75)
    return jpeg(s.grey, exif=exif_with_thumbnail(thumb))


def jfif_thumb(s: Slip) -> bytes:
    w, h = s.size
    tw, th = 48, min(255, h * 48 // w)
    rgb = s.altered.resize((tw, th), Image.Resampling.LANCZOS).convert("RGB").tobytes()
    app0 = segment(0xE0, b"JFIF\0" + bytes([1, 2, 0]) + struct.pack(">HH", 1, 1) + bytes([tw, th]) + rgb)
    return replace_app0(jpeg(s.grey), app0)


def jfxx_thumb(s: Slip) -> bytes:
    # A JFXX extension APP0 (code 0x10: a JPEG-coded thumbnail) after the JFIF APP0.
    w, h = s.size
    thumb = jpeg(s.altered.resize((96, h * 96 // w), Image.Resampling.LANCZOS), quality=75)
    genuine = jpeg(s.grey)
    n = struct.unpack(">H", genuine[4:6])[0]
    return genuine[: 4 + n] + segment(0xE0, b"JFXX\0\x10" + thumb) + genuine[4 + n :]


def mpo(s: Slip) -> bytes:
    buf = io.BytesIO()
    s.grey.convert("RGB").save(
        buf, "MPO", save_all=True, append_images=[s.altered.convert("RGB")], quality=90
    )
    return buf.getvalue()


def after_eoi(s: Slip) -> bytes:
    return jpeg(s.grey) + jpeg(s.altered)


def colour_jpeg(s: Slip) -> bytes:
    return jpeg(s.painted("RGB", {ADD: (255, 210, 0)}), subsampling=0)


def ink_lifted(s: Slip) -> bytes:
    # The digit's ink lifted to 60 (the edit's removed strokes) while its new strokes are
    # drawn at 195: each within the old per-pixel tolerance of 64.
    return jpeg(s.painted("L", {REMOVE: 60, ADD: 195}))


def paper_darkened(s: Slip) -> bytes:
    return jpeg(s.painted("L", {ADD: 195}))


def faint_blank(s: Slip) -> bytes:
    return jpeg(s.painted("L", {FAINT: 215}))


def other(fmt, **kw):
    def make(s: Slip) -> bytes:
        buf = io.BytesIO()
        s.grey.save(buf, fmt, **kw)
        return buf.getvalue()

    return make


def svg(s: Slip) -> bytes:
    import base64

    w, h = s.size
    data = base64.b64encode(s.file).decode()
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">'
        f'<image width="{w}" height="{h}" href="data:image/png;base64,{data}"/></svg>'
    ).encode()


# ---- Benign re-saves -----------------------------------------------------------------------


def pillow_resave(s: Slip) -> bytes:
    # Pillow keeps the palette and, when asked, the text chunks.
    return png(s.im, pnginfo=s.info())


def pillow_rgb(s: Slip) -> bytes:
    return png(s.im.convert("RGB"))


def pillow_grey(s: Slip) -> bytes:
    return png(s.im.convert("L"))


def pillow_jpeg(quality, mode):
    def make(s: Slip) -> bytes:
        return jpeg(s.im.convert(mode), quality=quality)

    return make


def oxipng_level(**kw):
    def make(s: Slip) -> bytes:
        return oxipng.optimize_from_memory(s.file, **kw)

    return make


MAKERS = {
    "apng.png": apng,
    "iccp.png": iccp,
    "gama.png": gama,
    "chrm.png": chrm,
    "cicp.png": cicp,
    "mdcv.png": mdcv,
    "clli.png": clli,
    "trns.png": trns,
    "alpha.png": alpha,
    "colour.png": colour,
    "grey200.png": grey200,
    "low_amplitude.png": low_amplitude_png,
    "sixteen.png": sixteen,
    "sbit.png": sbit,
    "exif.png": exif_png,
    "critical.png": critical,
    "after_iend.png": after_iend,
    "second_idat.png": second_idat,
    "icc.jpg": icc_jpeg,
    "adobe.jpg": adobe,
    "cmyk.jpg": cmyk,
    "exif3.jpg": exif3,
    "exif6.jpg": exif6,
    "exif_thumb.jpg": exif_thumb,
    "jfif_thumb.jpg": jfif_thumb,
    "jfxx_thumb.jpg": jfxx_thumb,
    "mpo.jpg": mpo,
    "after_eoi.jpg": after_eoi,
    "colour.jpg": colour_jpeg,
    "ink_lifted.jpg": ink_lifted,
    "paper_darkened.jpg": paper_darkened,
    "faint_blank.jpg": faint_blank,
    "slip.gif": other("GIF"),
    "slip.webp": other("WEBP", lossless=True),
    "slip.tiff": other("TIFF"),
    "slip.bmp": other("BMP"),
    "slip.pdf": other("PDF"),
    "slip.avif": other("AVIF", speed=10),
    "slip.svg": svg,
    "pillow.png": pillow_resave,
    "pillow_rgb.png": pillow_rgb,
    "pillow_grey.png": pillow_grey,
    "oxipng.png": oxipng_level(level=2),
    "oxipng_strip.png": oxipng_level(level=2, strip=oxipng.StripChunks.safe()),
}
MAKERS["pillow_85_prog.jpg"] = lambda s: jpeg(s.im.convert("L"), quality=85, progressive=True, optimize=True)
for q in (75, 85, 95):
    MAKERS[f"pillow_{q}_grey.jpg"] = pillow_jpeg(q, "L")
    MAKERS[f"pillow_{q}_rgb.jpg"] = pillow_jpeg(q, "RGB")


def main() -> None:
    d = Path(sys.argv[1])
    s = Slip(d)
    for name in sys.argv[2:]:
        (d / name).write_bytes(MAKERS[name](s))


if __name__ == "__main__":
    main()
