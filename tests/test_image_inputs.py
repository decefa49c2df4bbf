"""Input image validation (imaginebot.core.image_inputs): sniffing, limits before decoding, clean PNGs."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from imaginebot.core.image_inputs import (
    INPUT_FORMATS,
    MAX_INPUT_BYTES,
    MAX_INPUT_SIDE,
    InputImage,
    InputImageError,
    format_size,
    load_input_image,
    short_url,
    sniff_format,
)

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def two_frames(fmt: str) -> bytes:
    """An animation whose first frame is red and second blue."""
    first, second = Image.new("RGB", (16, 12), RED), Image.new("RGB", (16, 12), BLUE)
    extra = {"lossless": True} if fmt == "WEBP" else {}
    return encode(first, fmt, save_all=True, append_images=[second], duration=100, loop=0, **extra)


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1×1 PNG whose IHDR (with a correct CRC) claims width×height."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "PNG"))
    assert data[12:16] == b"IHDR"
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def rotated_jpeg() -> bytes:
    """A 40×20 JPEG, left half red and right half blue, whose EXIF says to show it turned 90° clockwise
    (so it shows 20×40, red on top)."""
    stored = Image.new("RGB", (40, 20), RED)
    stored.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", exif=exif.tobytes(), quality=95)


def pixel(img: Image.Image, x: int, y: int) -> tuple[int, ...]:
    value = img.getpixel((x, y))
    assert isinstance(value, tuple)
    return value


def decoded(result: InputImage) -> Image.Image:
    img = Image.open(io.BytesIO(result.png))
    assert img.format == "PNG"
    return img


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any pixel data is decoded."""
    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# -- sniffing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", INPUT_FORMATS)
def test_sniff_real_files(fmt: str) -> None:
    assert sniff_format(encode(Image.new("RGB", (4, 4)), fmt)) == fmt


@pytest.mark.parametrize("head", [b"", b"GIF88a", b"RIFF\0\0\0\0WAVE", b"RIFF", b"<html>", b"BM\0\0",
                                  b"\x89PNG\r\n", b"\xff\xd8", b"II*\0"])
def test_sniff_refuses_other_bytes(head: bytes) -> None:
    assert sniff_format(head) is None


@given(st.binary(max_size=64))
def test_sniff_is_magic_bytes_only(data: bytes) -> None:
    fmt = sniff_format(data)
    expected = {"PNG": data.startswith(b"\x89PNG\r\n\x1a\n"), "JPEG": data.startswith(b"\xff\xd8\xff"),
                "WEBP": data[:4] == b"RIFF" and data[8:12] == b"WEBP",
                "GIF": data[:6] in (b"GIF87a", b"GIF89a")}
    assert fmt == next((k for k, v in expected.items() if v), None)


# -- accepted images --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", INPUT_FORMATS)
def test_each_format_becomes_an_rgb_png(fmt: str) -> None:
    result = load_input_image(encode(Image.new("RGB", (37, 23), (10, 200, 30)), fmt))
    assert (result.width, result.height, result.source_format) == (37, 23, fmt)
    img = decoded(result)
    assert img.mode == "RGB" and img.size == (37, 23)
    assert max(abs(a - b) for a, b in zip(pixel(img, 18, 11), (10, 200, 30), strict=True)) <= 8
    assert result.sha256 == hashlib.sha256(result.png).hexdigest()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_its_first_frame(fmt: str) -> None:
    data = two_frames(fmt)
    with Image.open(io.BytesIO(data)) as anim:
        assert getattr(anim, "n_frames", 1) == 2
    result = load_input_image(data)
    assert (result.width, result.height) == (16, 12)
    assert decoded(result).getpixel((8, 6)) == RED


def test_exif_orientation_is_applied() -> None:
    result = load_input_image(rotated_jpeg())
    assert (result.width, result.height) == (20, 40)
    img = decoded(result)
    assert pixel(img, 10, 5)[0] > 200 and pixel(img, 10, 5)[2] < 60
    assert pixel(img, 10, 35)[2] > 200 and pixel(img, 10, 35)[0] < 60


def test_alpha_is_flattened_onto_white() -> None:
    img = Image.new("RGBA", (4, 2), (0, 0, 0, 0))
    img.putpixel((1, 0), (255, 0, 0, 255))
    img.putpixel((2, 0), (255, 0, 0, 128))
    out = decoded(load_input_image(encode(img, "PNG")))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == WHITE and out.getpixel((1, 0)) == RED
    r, g, b = pixel(out, 2, 0)
    assert r == 255 and 120 <= g <= 135 and g == b


def test_palette_transparency_is_flattened_onto_white() -> None:
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0, *RED] + [0] * 762)
    img.putpixel((0, 0), 1)
    out = decoded(load_input_image(encode(img, "GIF", transparency=0)))
    assert out.getpixel((0, 0)) == RED and out.getpixel((3, 3)) == WHITE


def test_sixteen_bit_grey_is_scaled() -> None:
    img = Image.new("I;16", (2, 1))
    img.putpixel((0, 0), 65535)
    img.putpixel((1, 0), 32768)
    out = decoded(load_input_image(encode(img, "PNG")))
    assert out.getpixel((0, 0)) == WHITE and out.getpixel((1, 0)) == (128, 128, 128)


def test_largest_allowed_side() -> None:
    result = load_input_image(encode(Image.new("RGB", (MAX_INPUT_SIDE, 8)), "PNG"))
    assert (result.width, result.height) == (MAX_INPUT_SIDE, 8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width=st.integers(1, 48), height=st.integers(1, 48),
       mode=st.sampled_from(["RGB", "RGBA", "L", "LA", "P", "1", "CMYK", "I;16"]),
       fmt=st.sampled_from(INPUT_FORMATS))
def test_any_mode_and_size_round_trips(width: int, height: int, mode: str, fmt: str) -> None:
    img = Image.new(mode, (width, height))
    try:
        data = encode(img, fmt)
    except (OSError, ValueError, KeyError):  # not every mode can be written in every format
        data = encode(img.convert("RGB"), fmt)
    result = load_input_image(data)
    assert (result.width, result.height) == (width, height)
    assert decoded(result).mode == "RGB"


# -- refusals ---------------------------------------------------------------------------------------

def test_too_many_bytes_names_label_and_limit() -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(MAX_INPUT_BYTES + 300_000)
    with pytest.raises(InputImageError) as err:
        load_input_image(data, label="image2")
    assert str(err.value) == "image2 is 10.3 MiB; the limit is 10 MiB"


def test_byte_limit_can_be_lowered() -> None:
    data = encode(Image.new("RGB", (64, 64)), "PNG")
    with pytest.raises(InputImageError, match=r"^image is .* bytes; the limit is 10 bytes$"):
        load_input_image(data, max_bytes=10)


@pytest.mark.parametrize("data", [b"", b"<!doctype html><html>hi</html>", b"BM" + bytes(100),
                                  b"II*\0" + bytes(100), b"%PDF-1.4"])
def test_other_files_are_refused(data: bytes) -> None:
    with pytest.raises(InputImageError) as err:
        load_input_image(data, label="image2")
    assert str(err.value) == "image2 is not a PNG, JPEG, WebP or GIF file"


def test_other_image_formats_are_refused() -> None:
    for fmt in ("BMP", "TIFF", "ICO"):
        with pytest.raises(InputImageError, match="is not a PNG, JPEG, WebP or GIF file"):
            load_input_image(encode(Image.new("RGB", (8, 8)), fmt))


def test_one_pixel_too_wide_is_refused() -> None:
    with pytest.raises(InputImageError) as err:
        load_input_image(encode(Image.new("RGB", (4097, 10)), "PNG"))
    assert str(err.value) == "image is 4097×10 pixels; the limit is 4096×4096"


@pytest.mark.usefixtures("no_decoding")
@pytest.mark.parametrize(("width", "height"), [(5000, 3000), (3000, 4097), (10_000, 10_000),
                                               (50_000, 50_000), (100_000, 100_000), (2**31 - 1, 1)])
def test_decompression_bomb_is_refused_before_decoding(width: int, height: int) -> None:
    data = png_claiming(width, height)
    assert len(data) < 100
    with pytest.raises(InputImageError) as err:
        load_input_image(data, label="image2")
    message = str(err.value)
    assert message.startswith("image2 ") and message.endswith("the limit is 4096×4096")


def test_bomb_check_leaves_pillow_settings_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InputImageError):
        load_input_image(png_claiming(10_000, 10_000))
    assert Image.MAX_IMAGE_PIXELS == before


@pytest.mark.parametrize("fmt", INPUT_FORMATS)
def test_truncated_file_cannot_be_read(fmt: str) -> None:
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), fmt)
    with pytest.raises(InputImageError) as err:
        load_input_image(data[: len(data) // 2], label="image2")
    assert str(err.value).startswith("image2 could not be read as an image")


def test_wrong_extension_or_type_does_not_matter() -> None:
    """Only the bytes count: a JPEG is a JPEG whatever it is called."""
    result = load_input_image(encode(Image.new("RGB", (5, 5)), "JPEG"), label="cat.png")
    assert result.source_format == "JPEG"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(INPUT_FORMATS), cut=st.integers(0, 4000),
       flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=6))
def test_damaged_files_give_a_result_or_a_clear_error(fmt: str, cut: int,
                                                      flips: list[tuple[int, int]]) -> None:
    data = bytearray(two_frames(fmt) if fmt in ("GIF", "WEBP") else
                     encode(Image.effect_noise((24, 24), 40).convert("RGB"), fmt))
    for pos, value in flips:
        if 16 <= pos < len(data):  # keep the magic bytes so the decoder is reached
            data[pos] = value
    data = data[: max(16, len(data) - cut)]
    try:
        result = load_input_image(bytes(data))
    except InputImageError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("image ")
    else:
        assert 1 <= result.width <= MAX_INPUT_SIDE and 1 <= result.height <= MAX_INPUT_SIDE
        assert decoded(result).size == (result.width, result.height)


# -- message helpers --------------------------------------------------------------------------------

def test_format_size() -> None:
    assert format_size(10 * 1024 * 1024) == "10 MiB"
    assert format_size(int(12.3 * 1024 * 1024)) == "12.3 MiB"
    assert format_size(MAX_INPUT_BYTES + 1, round_up=True) == "10.1 MiB"
    assert format_size(100_000) == "97.7 KiB"
    assert format_size(512) == "512 bytes"


def test_short_url() -> None:
    assert short_url("https://cdn.discordapp.com/attachments/1/2/cat.png?ex=1") == \
        "cdn.discordapp.com/…/cat.png"
    assert short_url("https://cdn.test/cat.png") == "cdn.test/cat.png"
    assert short_url("https://cdn.test") == "cdn.test"
    long = short_url("https://cdn.test/" + "a" * 200)
    assert len(long) == 60 and long.endswith("…")
    assert short_url("not a\nurl") == "not a url"
