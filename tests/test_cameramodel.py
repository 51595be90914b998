"""Camera models: parsing both component orders, projection both ways, rescaling, attitude."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bot.imagery.cameramodel import (CameraModel, attitude_matrix, az_el, direction, format_model, parse_model,
                                     quaternion_of, rotation_zyx, yaw_pitch_roll)
from bot.imagery.errors import ProductError
from tests.nasa_standin import load_fixture

SOL1994 = load_fixture("m2020_raw_latest_sol1994_navcam_left_page0_num12.json")["images"]
SOL1965 = load_fixture("m2020_raw_sol1965_navcam_right_num3_tiles.json")["images"]
RECORDS = SOL1994 + SOL1965


def model_of(rec: dict) -> CameraModel:
    return parse_model(rec["camera"]["camera_model_component_list"], rec["camera"]["camera_model_type"])


def tup(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.strip("()").split(","))


def grid(w: int, h: int, n: int = 41) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.linspace(0, w - 1, n), np.linspace(0, h - 1, n))


def the_three_kinds() -> list[CameraModel]:
    full = model_of(SOL1994[0])
    return [CameraModel(C=full.C, A=full.A, H=full.H, V=full.V),
            CameraModel(C=full.C, A=full.A, H=full.H, V=full.V, O=full.O, R=(0.0, -0.08, 0.02)),
            full]


def test_every_recorded_model_parses_as_a_fisheye_cahvore():
    for rec in RECORDS:
        m = model_of(rec)
        assert m.kind == "CAHVORE"
        assert m.linearity == 0.0  # type 2: fisheye
        assert m.E is not None and m.R is not None


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["CAHV", "CAHVOR", "CAHVORE"])
def test_pixel_to_ray_to_pixel_round_trips_below_a_millionth_of_a_pixel(kind):
    m = the_three_kinds()[kind]
    xs, ys = grid(1280, 960)
    origins, dirs = m.rays(xs, ys)
    x, y, ok = m.project(dirs)
    assert ok.all()
    assert np.max(np.abs(x - xs)) < 1e-6 and np.max(np.abs(y - ys)) < 1e-6
    # and through a finite point, where CAHVORE's entrance pupil moves with the angle
    x, y, ok = m.project(origins + 2.5 * dirs, at_infinity=False)
    assert ok.all()
    assert np.max(np.abs(x - xs)) < 1e-6 and np.max(np.abs(y - ys)) < 1e-6


def test_the_entrance_pupil_moves_off_axis():
    m = model_of(SOL1994[0])
    m = replace(m, E=(0.0, 0.01, 0.0))  # exaggerated so the shift is measurable
    origins, _ = m.rays(np.array([639.5, 0.0]), np.array([479.5, 0.0]))
    assert np.linalg.norm(origins[0] - np.array(m.C)) < 1e-6
    assert np.linalg.norm(origins[1] - np.array(m.C)) > 1e-4


def test_read_as_a_fisheye_the_navcam_spans_96_by_73_degrees():
    m = model_of(SOL1994[0])
    _, d = m.rays(np.array([0.0, 1279.0, 639.5, 639.5]), np.array([479.5, 479.5, 0.0, 959.0]))
    across = math.degrees(math.acos(d[0] @ d[1]))
    down = math.degrees(math.acos(d[2] @ d[3]))
    assert abs(across - 96.5) < 1.0 and abs(down - 73.0) < 1.0
    perspective = replace(m, linearity=1.0)
    _, d = perspective.rays(np.array([0.0, 1279.0]), np.array([479.5, 479.5]))
    assert math.degrees(math.acos(d[0] @ d[1])) < 85  # the wrong reading is visibly narrower


def test_both_component_orders_give_the_same_model():
    m = model_of(SOL1994[0])
    early = format_model(m, early=True)
    assert early.startswith("2.0;0;(")  # T;P;V;O;R;E;C;A;H
    again = parse_model(early, "CAHVORE")
    for a, b in ((m.C, again.C), (m.A, again.A), (m.H, again.H), (m.V, again.V), (m.R, again.R), (m.E, again.E)):
        assert np.allclose(a, b, rtol=1e-5, atol=1e-9)
    xs, ys = grid(1280, 960, 9)
    assert np.allclose(m.rays(xs, ys)[1], again.rays(xs, ys)[1], atol=1e-6)


def test_mast_angles_are_the_rover_frame_direction_of_the_sensor_centre():
    for rec in RECORDS:
        ext = rec["extended"]
        sensor = model_of(rec).to_sensor(tuple(int(v) for v in tup(ext["subframeRect"])), int(ext["scaleFactor"]))
        _, d = sensor.rays(np.array(2559.5), np.array(1919.5))
        az, el = az_el(d)
        assert abs((float(az) - float(ext["mastAz"]) + 180) % 360 - 180) < 0.001, rec["imageid"]
        assert abs(float(el) - float(ext["mastEl"])) < 0.001, rec["imageid"]


def test_a_model_rescaled_to_the_medium_rendition_still_points_at_the_mast_angles():
    strip = next(r for r in SOL1994 if "NCAM00528" in r["imageid"])  # (1,1409,5120,1024), 4x4 binned, 1280x256
    medium = model_of(strip).for_size(1280, 256, 800, 160)
    _, d = medium.rays(np.array(399.5), np.array(79.5))
    az, el = az_el(d)
    assert abs(float(az) - 34.264) < 0.001 and abs(float(el) - 6.335) < 0.001
    # the un-rescaled model read at those pixels would look elsewhere
    _, wrong = model_of(strip).rays(np.array(399.5), np.array(79.5))
    assert abs(float(az_el(wrong)[0]) - 34.264) > 5


def test_subframe_and_rescale_are_inverse_operations():
    m = model_of(SOL1965[1])
    back = m.to_sensor((1273, 1, 1296, 968), 1).for_subframe((1273, 1, 1296, 968), 1)
    assert np.allclose(back.H, m.H) and np.allclose(back.V, m.V)
    there = m.rescaled(0.625, 0.625).rescaled(1.6, 1.6)
    assert np.allclose(there.H, m.H, atol=1e-9) and np.allclose(there.V, m.V, atol=1e-9)


def test_recorded_tiles_differ_by_their_offset_only():
    a, b, c = (model_of(r) for r in SOL1965)
    assert np.allclose(b.shifted(-1272, 0).H, a.H, atol=0.02)
    assert np.allclose(c.shifted(-2552, 0).H, a.H, atol=0.02)


def test_attitude_quaternion_is_w_first_and_rotates_rover_into_local_level():
    q = tup(SOL1994[0]["attitude"])
    yaw, pitch, roll = yaw_pitch_roll(attitude_matrix(q))  # type: ignore[arg-type]
    assert abs(yaw - 154.3) < 0.1 and abs(pitch - (-8.13)) < 0.05 and abs(roll - 8.22) < 0.05
    R = rotation_zyx(37.5, 3.0, -2.8)
    assert np.allclose(attitude_matrix(quaternion_of(R)), R, atol=1e-12)
    assert np.allclose(yaw_pitch_roll(R), (37.5, 3.0, -2.8))
    # rover forward, yawed 37.5°, points at azimuth 37.5° in local level
    assert abs(float(az_el(R @ np.array([1.0, 0, 0]))[0]) - 37.5) < 1e-9
    assert np.allclose(attitude_matrix(None), np.eye(3))


def test_directions_and_angles_round_trip():
    az = np.array([0.0, 45.0, 359.5, 180.0])
    el = np.array([0.0, -30.0, 60.0, 10.0])
    a, e = az_el(direction(az, el))
    assert np.allclose(a, az) and np.allclose(e, el)


@pytest.mark.parametrize("text, kind", [
    ("", None),
    ("UNK", None),
    ("(1,2,3);(0,0,1)", None),
    ("(1,2,3);(0,0,1);(1,2,3);(x,2,3)", None),
    ("(0,0,0);(1,0,0);(640,0,1000);(480,1000,0)", "CAHVOR"),  # says CAHVOR, has four vectors
    ("(0,0,0);(2,0,0);(640,0,1000);(480,1000,0)", None),  # A not a unit vector
    ("(0,0,0);(1,0,0);(640,0,1000);(480,1000,0);(0,0,0);(0,0,0)", None),  # zero O
    ("(0,0,0);(1,0,0);(640,0,1000);(480,1000,0);(1,0,0);(0,0,0);(0,0,0);7.0;0.0", None),  # no type 7
    ("(0,0,0);(1,0,0);(640,0,1000);(480,nan,0)", None),
])
def test_broken_models_raise_the_one_product_error(text, kind):
    with pytest.raises(ProductError):
        parse_model(text, kind)


def test_a_plain_cahv_parses_and_projects_its_principal_point():
    m = parse_model("(0,0,0);(1,0,0);(640,0,1000);(480,1000,0)", "CAHV")
    assert (m.kind, m.hc, m.vc, m.hs, m.vs) == ("CAHV", 640, 480, 1000, 1000)
    x, y, ok = m.project(np.array([[1.0, 0, 0], [-1.0, 0, 0]]))
    assert ok.tolist() == [True, False] and (x[0], y[0]) == (640, 480) and math.isnan(x[1])
