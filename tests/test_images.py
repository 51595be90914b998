"""The digest picture: Pillow on real bytes, defensive decoding, small renditions only."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.imagery import pictures as images
from bot.posting import interest
from bot.posting.digest import DigestMaker
from bot.sources import parse
from tests.nasa_standin import jpeg, make_record, serve_images


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (w, h)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def test_contact_sheet_skips_blank_and_broken_frames():
    frames = [images.Frame(jpeg(color=(90 + i * 10, 50, 30)), f"Navcam L · sol {i}") for i in range(5)]
    frames.insert(1, images.Frame(jpeg(noise=False), "flat field"))  # near-uniform
    frames.insert(3, images.Frame(jpeg()[:400], "truncated"))
    frames.append(images.Frame(b"<html>not an image</html>", "html"))
    data, used = images.contact_sheet(frames)
    sheet = Image.open(io.BytesIO(data))
    assert used == 5 and sheet.format == "JPEG"
    assert sheet.width == 3 * images.CELL[0] and sheet.height == 2 * (images.CELL[1] + images.LABEL_HEIGHT)


def test_contact_sheet_labels_are_legible_at_discords_preview_width():
    """Discord shows an attached picture about 400 px wide: measure the label's ink there."""
    frames = [images.Frame(jpeg(color=(40, 30, 20)), f"Mastcam-Z L · sol {i}") for i in range(12)]
    data, used = images.contact_sheet(frames)
    sheet = Image.open(io.BytesIO(data)).convert("L")
    band = sheet.crop((0, images.CELL[1], images.CELL[0], images.CELL[1] + images.LABEL_HEIGHT))
    rows = [y for y in range(band.height) if max(band.crop((0, y, band.width, y + 1)).getdata()) > 150]
    ink = rows[-1] - rows[0] + 1
    at_preview = ink * 400 / sheet.width
    assert used == 12 and at_preview >= 9.5, f"label {ink} px tall is {at_preview:.1f} px in a 400 px preview"
    assert len(data) < 120_000  # uploaded once per channel: kept small (it was 192 KB)


@pytest.mark.fault("NASA", "a decompression bomb", "refused before decoding")
def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    bomb = _png(20000, 20000)  # 400 MP of zeros: tiny file, huge image
    assert len(bomb) < 1_000_000
    with pytest.raises(images.BadImage):
        images.decode(bomb)


def test_limit_and_no_usable_frames():
    frames = [images.Frame(jpeg(color=(40 + i * 9, 90, 60)), str(i)) for i in range(16)]
    assert images.contact_sheet(frames, limit=12)[1] == 12
    with pytest.raises(images.BadImage):
        images.contact_sheet([images.Frame(jpeg(noise=False), "flat")])


def test_best_frames_mix_cameras_and_sequences(catalogue, clock):
    recs = [make_record(10, "NAVCAM_LEFT", n=i, sequence="NCAM00001") for i in range(30)]
    recs += [make_record(10, "MCZ_LEFT", n=100 + i, sequence=f"ZCAM0000{i % 3}") for i in range(9)]
    recs += [make_record(10, "SHERLOC_WATSON", n=200, sequence="SIF00001")]
    found = parse.page({"images": recs}, hosts=(*parse.IMAGE_HOSTS, "127.0.0.1")).images
    picked = interest.pick_frames(found, 12, interest.Context(now=clock(), catalogue=catalogue))
    # Every sequence gives one frame before any gives a second: 3 Mastcam, 1 WATSON, 1 Navcam.
    assert sorted(p.sequence for p in picked[:5]) == ["NCAM00001", "SIF00001", "ZCAM00000", "ZCAM00001", "ZCAM00002"]
    assert len(picked) == 12


async def test_digest_picture_uses_small_renditions_from_allowed_hosts_only(nasa, nasa_standin, catalogue, clock):
    recs = [make_record(10, ("MCZ_LEFT", "NAVCAM_LEFT", "SHERLOC_WATSON")[i % 3], n=i, sequence=f"SEQ{i:05d}", host=nasa_standin.url)
            for i in range(14)]
    recs.append(make_record(10, "MCZ_RIGHT", n=99, sequence="EVIL00001", host="http://203.0.113.9"))  # not allowed
    serve_images(nasa_standin, recs)
    found = parse.page({"images": recs}, hosts=(*parse.IMAGE_HOSTS, "127.0.0.1")).images
    maker = DigestMaker(nasa, image_hosts=("127.0.0.1",), max_image_bytes=2_000_000, clock=clock)
    data, used = await maker.picture(found, catalogue)
    assert data and used == 12
    fetched = [r["path"] for r in nasa_standin.requests if r["path"].endswith(".jpg")]
    assert fetched and all(p.endswith("_320.jpg") for p in fetched)  # never _1200 or the full-res .png
    assert not any("203.0.113.9" in r["path"] for r in nasa_standin.requests)
    again = await maker.picture(found, catalogue)
    assert again == (data, used) and maker.sheets_composed == 1  # composed once, reused


async def test_oversized_and_missing_images(nasa, nasa_standin):
    nasa_standin.files["/big.jpg"] = b"x" * 50_000
    with pytest.raises(Exception, match="over the"):
        await nasa.image(nasa_standin.url + "/big.jpg", allowed_hosts=["127.0.0.1"], max_bytes=10_000)
    with pytest.raises(Exception, match="HTTP 404"):
        await nasa.image(nasa_standin.url + "/none.jpg", allowed_hosts=["127.0.0.1"], max_bytes=10_000)
    with pytest.raises(Exception, match="not an allowed host"):
        await nasa.image("https://evil.example/x.jpg", allowed_hosts=["127.0.0.1"], max_bytes=10_000)
