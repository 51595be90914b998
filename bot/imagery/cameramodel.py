"""CAHV / CAHVOR / CAHVORE camera models: parsing the feed's strings, projection both ways, rescaling.

The maths follows shared/docs/camera-models.md §1–§3 (Yakimovsky & Cunningham 1978; Gennery 2001,
2006). Everything is vectorised over numpy arrays of shape (..., 3) so a whole image grid is
projected in one call. Models are plain frozen values (tuples of floats); numpy arrays are built
on demand.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

from bot.imagery.errors import ProductError

Vec = tuple[float, float, float]

# Beyond this angle from O the Navcam R polynomial stops increasing and folds back into the image
# (camera-models.md §1), so such directions are reported as not visible.
MAX_OFF_AXIS_DEG = 85.0
_NEWTON_STEPS = 12
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class CameraModel:
    """One camera model, in the frame it was given in (the rover navigation frame for the feed).

    O, R are set for CAHVOR and CAHVORE, E only for CAHVORE. `linearity` is CAHVORE's L: 1
    perspective, 0 fisheye, anything else general (the feed's type 3 carries it as P).
    """

    C: Vec
    A: Vec
    H: Vec
    V: Vec
    O: Vec | None = None
    R: Vec | None = None
    E: Vec | None = None
    linearity: float = 1.0

    @property
    def kind(self) -> str:
        return "CAHVORE" if self.E is not None else "CAHVOR" if self.O is not None else "CAHV"

    # ------------------------------------------------------------ intrinsic numbers

    def _v(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return np.array(self.C), np.array(self.A), np.array(self.H), np.array(self.V)

    @property
    def hc(self) -> float:
        return float(np.dot(self.A, self.H))

    @property
    def vc(self) -> float:
        return float(np.dot(self.A, self.V))

    @property
    def hs(self) -> float:
        return float(np.linalg.norm(np.cross(self.A, self.H)))

    @property
    def vs(self) -> float:
        return float(np.linalg.norm(np.cross(self.A, self.V)))

    def axis(self) -> np.ndarray:
        """The optical axis O (A for plain CAHV), unit length."""
        o = np.array(self.O if self.O is not None else self.A, dtype=float)
        return o / np.linalg.norm(o)

    # ------------------------------------------------------------ changes of image or frame

    def shifted(self, dx: float, dy: float) -> "CameraModel":
        """The model for an image whose pixel (0, 0) is pixel (dx, dy) of this one (a crop or a tile)."""
        C, A, H, V = self._v()
        return replace(self, H=_t(H - dx * A), V=_t(V - dy * A))

    def rescaled(self, kx: float, ky: float) -> "CameraModel":
        """The model for a resampled copy: x' = (x + 0.5)·kx − 0.5 (camera-models.md §3)."""
        C, A, H, V = self._v()
        return replace(self, H=_t(kx * H + (kx / 2 - 0.5) * A), V=_t(ky * V + (ky / 2 - 0.5) * A))

    def for_size(self, width: int, height: int, new_width: int, new_height: int) -> "CameraModel":
        """This model is for a width×height image; the same model for a new_width×new_height copy."""
        if (width, height) == (new_width, new_height):
            return self
        return self.rescaled(new_width / width, new_height / height)

    def to_sensor(self, subframe: tuple[int, int, int, int], scale: int) -> "CameraModel":
        """From a subframe/binned image back to full-sensor pixels (subframe is 1-based, §3)."""
        x0, y0 = subframe[0], subframe[1]
        C, A, H, V = self._v()
        off = (scale - 1) / 2
        return replace(self, H=_t(scale * H + (x0 - 1 + off) * A), V=_t(scale * V + (y0 - 1 + off) * A))

    def for_subframe(self, subframe: tuple[int, int, int, int], scale: int) -> "CameraModel":
        """From full-sensor pixels to a subframe/binned image: the inverse of to_sensor."""
        x0, y0 = subframe[0], subframe[1]
        C, A, H, V = self._v()
        off = (scale - 1) / 2
        return replace(self, H=_t((H - (x0 - 1 + off) * A) / scale), V=_t((V - (y0 - 1 + off) * A) / scale))

    def moved(self, rotation: np.ndarray, translation: np.ndarray | Vec = (0.0, 0.0, 0.0)) -> "CameraModel":
        """The same camera after a rigid motion p -> rotation·p + translation of everything it is fixed to."""
        Q = np.asarray(rotation, dtype=float)
        rot = lambda v: None if v is None else _t(Q @ np.array(v))  # noqa: E731
        return replace(self, C=_t(Q @ np.array(self.C) + np.asarray(translation, float)), A=rot(self.A),
                       H=rot(self.H), V=rot(self.V), O=rot(self.O))

    # ------------------------------------------------------------ projection

    def project(self, p: np.ndarray, *, at_infinity: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Directions (at_infinity) or points, shape (..., 3), in the model's frame -> (x, y, visible).

        x is the column and y the row, 0-based, (0, 0) the centre of the top-left pixel. `visible`
        is False for what is behind the camera or beyond MAX_OFF_AXIS_DEG; x and y are NaN there.
        """
        p = np.asarray(p, dtype=float)
        C, A, H, V = self._v()
        d = p if at_infinity else p - C
        o = self.axis()
        zeta = d @ o
        lam = d - zeta[..., None] * o
        lam_n = np.linalg.norm(lam, axis=-1)
        off_axis = np.arctan2(lam_n, zeta)
        if self.kind == "CAHVOR":
            tau = lam_n**2 / np.where(zeta == 0, np.nan, zeta) ** 2
            R0, R1, R2 = self.R  # type: ignore[misc]
            mu = R0 + R1 * tau + R2 * tau**2
            d = d + mu[..., None] * lam
        elif self.kind == "CAHVORE":
            theta = off_axis if at_infinity else self._theta_of_point(zeta, lam_n, off_axis)
            chi = _chi(theta, self.linearity)
            R0, R1, R2 = self.R  # type: ignore[misc]
            mu = R0 + R1 * chi**2 + R2 * chi**4
            with np.errstate(invalid="ignore", divide="ignore"):
                u = np.where(lam_n[..., None] > 0, lam / lam_n[..., None], 0.0)
            d = o + ((1 + mu) * chi)[..., None] * u  # d' up to a positive scale (CAHV is projective)
        den = d @ A
        visible = (den > 1e-12) & (off_axis < math.radians(MAX_OFF_AXIS_DEG))
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(visible, (d @ H) / den, np.nan)
            y = np.where(visible, (d @ V) / den, np.nan)
        return x, y, visible

    def _theta_of_point(self, zeta: np.ndarray, lam_n: np.ndarray, theta0: np.ndarray) -> np.ndarray:
        """CAHVORE's off-axis angle of a finite point: the entrance pupil moves with θ (§1)."""
        E0, E1, E2 = self.E  # type: ignore[misc]
        th = theta0.copy()
        for _ in range(_NEWTON_STEPS):
            e = E0 + E1 * th**2 + E2 * th**4
            de = 2 * E1 * th + 4 * E2 * th**3
            f = zeta * np.sin(th) - lam_n * np.cos(th) - (th - np.sin(th)) * e
            df = zeta * np.cos(th) + lam_n * np.sin(th) - (1 - np.cos(th)) * e - (th - np.sin(th)) * de
            step = np.nan_to_num(f / np.where(df == 0, np.nan, df))
            th = th - step
            if not np.max(np.abs(step), initial=0.0) > 1e-13:
                break
        return th

    def rays(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels -> (origins, unit directions), each of shape x.shape + (3,), in the model's frame."""
        x = np.asarray(x, dtype=float)[..., None]
        y = np.asarray(y, dtype=float)[..., None]
        C, A, H, V = self._v()
        r = np.cross(V - y * A, H - x * A) / np.dot(A, np.cross(V, H))
        origin = np.broadcast_to(C, r.shape).copy()
        if self.kind == "CAHV":
            return origin, r / np.linalg.norm(r, axis=-1, keepdims=True)
        o = self.axis()
        R0, R1, R2 = self.R  # type: ignore[misc]
        if self.kind == "CAHVOR":
            r = r / np.linalg.norm(r, axis=-1, keepdims=True)
            omega = r @ o
            lam = r - omega[..., None] * o
            tau = np.sum(lam * lam, axis=-1) / omega**2
            u = 1 - (R0 + R1 * tau + R2 * tau**2)
            for _ in range(_NEWTON_STEPS):
                f = (1 + R0) * u + R1 * tau * u**3 + R2 * tau**2 * u**5 - 1
                df = (1 + R0) + 3 * R1 * tau * u**2 + 5 * R2 * tau**2 * u**4
                step = f / df
                u = u - step
                if not np.nanmax(np.abs(step), initial=0.0) > 1e-13:
                    break
            d = r - (1 - u)[..., None] * lam
            return origin, d / np.linalg.norm(d, axis=-1, keepdims=True)
        zeta = r @ o
        lam = r - zeta[..., None] * o
        lam_n = np.linalg.norm(lam, axis=-1)
        chi_p = lam_n / zeta
        chi = chi_p.copy()
        for _ in range(_NEWTON_STEPS):
            f = (1 + R0) * chi + R1 * chi**3 + R2 * chi**5 - chi_p
            df = (1 + R0) + 3 * R1 * chi**2 + 5 * R2 * chi**4
            step = f / df
            chi = chi - step
            if not np.nanmax(np.abs(step), initial=0.0) > 1e-13:
                break
        theta = _theta_of_chi(chi, self.linearity)
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.where(lam_n[..., None] > 0, lam / lam_n[..., None], 0.0)
            E0, E1, E2 = self.E  # type: ignore[misc]
            shift = np.where(theta > 1e-8, theta / np.sin(theta) - 1, theta**2 / 6) * (E0 + E1 * theta**2 + E2 * theta**4)
        d = np.sin(theta)[..., None] * u + np.cos(theta)[..., None] * o
        return origin + shift[..., None] * o, d

    def centre_direction(self, width: int, height: int) -> np.ndarray:
        """The unit direction through the middle of a width×height image."""
        return self.rays(np.array((width - 1) / 2), np.array((height - 1) / 2))[1]


# ------------------------------------------------------------ CAHVORE helpers


def _chi(theta: np.ndarray, L: float) -> np.ndarray:
    if L > 0:
        return np.tan(L * theta) / L
    if L < 0:
        return np.sin(L * theta) / L
    return theta


def _theta_of_chi(chi: np.ndarray, L: float) -> np.ndarray:
    if L > 0:
        return np.arctan(L * chi) / L
    if L < 0:
        return np.arcsin(np.clip(L * chi, -1, 1)) / L
    return chi


def _t(v: np.ndarray) -> Vec:
    return (float(v[0]), float(v[1]), float(v[2]))


# ------------------------------------------------------------ the feed's strings


def _components(text: str) -> list[object]:
    out: list[object] = []
    for part in text.strip().split(";"):
        part = part.strip()
        if part.startswith("(") and part.endswith(")"):
            nums = [s.strip() for s in part[1:-1].split(",")]
            if len(nums) != 3 or not all(_NUMBER.match(n) for n in nums):
                raise ProductError(f"camera model vector {part[:40]!r} is not three numbers")
            out.append(tuple(float(n) for n in nums))
        elif _NUMBER.match(part):
            out.append(float(part))
        else:
            raise ProductError(f"camera model component {part[:40]!r} is not a number or a vector")
    return out


def parse_model(components: str, model_type: str | None = None) -> CameraModel:
    """`camera.camera_model_component_list` (+ `camera_model_type`) -> CameraModel, or ProductError.

    Reads the current order C;A;H;V[;O;R[;E;T;P]] and the early-2021 CAHVORE order T;P;V;O;R;E;C;A;H
    (camera-models.md §1); the number of components says which model it is when the type is missing.
    """
    if not isinstance(components, str) or not components.strip():
        raise ProductError("no camera model")
    parts = _components(components)
    vecs = [p for p in parts if isinstance(p, tuple)]
    scalars = [p for p in parts if isinstance(p, float)]
    if len(parts) == 9 and isinstance(parts[0], float) and isinstance(parts[1], float) and len(vecs) == 7:
        T, P = parts[0], parts[1]
        V, O, R, E, C, A, H = vecs
    elif len(parts) == 9 and len(vecs) == 7 and len(scalars) == 2 and isinstance(parts[7], float):
        C, A, H, V, O, R, E = vecs
        T, P = parts[7], parts[8]
    elif len(parts) == 6 and len(vecs) == 6:
        C, A, H, V, O, R = vecs
        E, T, P = None, None, None
    elif len(parts) == 4 and len(vecs) == 4:
        C, A, H, V = vecs
        O = R = E = None
        T = P = None
    else:
        raise ProductError(f"camera model with {len(vecs)} vectors and {len(scalars)} numbers is not CAHV, CAHVOR or CAHVORE")
    declared = (model_type or "").strip().upper()
    kind = "CAHVORE" if E is not None else "CAHVOR" if O is not None else "CAHV"
    if declared and declared != kind:
        raise ProductError(f"camera model says {declared} but has the components of {kind}")
    linearity = 1.0
    if E is not None:
        t = int(round(T))  # type: ignore[arg-type]
        if t == 1:
            linearity = 1.0
        elif t == 2:
            linearity = 0.0
        elif t == 3:
            linearity = float(P)  # type: ignore[arg-type]
        else:
            raise ProductError(f"CAHVORE type {T} is not 1, 2 or 3")
    if O is not None:
        n = math.sqrt(sum(c * c for c in O))
        if not n:
            raise ProductError("camera model has a zero O vector")
        O = tuple(c / n for c in O)  # six significant digits: O is only nearly a unit vector
    model = CameraModel(C=C, A=A, H=H, V=V, O=O, R=R, E=E, linearity=linearity)  # type: ignore[arg-type]
    _check(model)
    return model


def _check(model: CameraModel) -> None:
    values = [*model.C, *model.A, *model.H, *model.V, *(model.O or ()), *(model.R or ()), *(model.E or ())]
    if not all(math.isfinite(v) for v in values):
        raise ProductError("camera model has a non-finite number")
    if abs(math.sqrt(sum(a * a for a in model.A)) - 1) > 1e-3:
        raise ProductError("camera model A is not a unit vector")
    if model.hs < 1 or model.vs < 1:
        raise ProductError("camera model focal lengths are under a pixel")
    if model.O is not None and float(np.dot(model.O, model.A)) < 0.5:
        raise ProductError("camera model O points more than 60° away from A")


def format_model(model: CameraModel, *, early: bool = False, digits: int = 6) -> str:
    """The feed's string for a model (6 significant digits like NASA's; `early` = the 2021 CAHVORE order)."""
    v = lambda t: "(" + ",".join(f"{c:.{digits}g}" for c in t) + ")"  # noqa: E731
    if model.kind == "CAHV":
        return ";".join(v(t) for t in (model.C, model.A, model.H, model.V))
    if model.kind == "CAHVOR":
        return ";".join(v(t) for t in (model.C, model.A, model.H, model.V, model.O, model.R))
    T, P = (1.0, 0.0) if model.linearity == 1 else (2.0, 0.0) if model.linearity == 0 else (3.0, model.linearity)
    if early:
        return ";".join([f"{T:.1f}", f"{P:g}", *(v(t) for t in (model.V, model.O, model.R, model.E, model.C, model.A, model.H))])
    return ";".join([*(v(t) for t in (model.C, model.A, model.H, model.V, model.O, model.R, model.E)), f"{T:.1f}", f"{P:.1f}"])


# ------------------------------------------------------------ attitude and directions


def attitude_matrix(q: tuple[float, float, float, float] | None) -> np.ndarray:
    """The feed's `attitude` quaternion (w, x, y, z) -> R with d_LL = R·d_rover (§2). None -> identity."""
    if q is None:
        return np.eye(3)
    w, x, y, z = q
    n = math.sqrt(w * w + x * x + y * y + z * z)
    if not n or not math.isfinite(n):
        raise ProductError("attitude quaternion is zero or not finite")
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def quaternion_of(R: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation matrix -> unit quaternion (w, x, y, z) with w >= 0, the inverse of attitude_matrix."""
    m = np.asarray(R, dtype=float)
    w = math.sqrt(max(0.0, 1 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
    x = math.copysign(math.sqrt(max(0.0, 1 + m[0, 0] - m[1, 1] - m[2, 2])) / 2, m[2, 1] - m[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1 - m[0, 0] + m[1, 1] - m[2, 2])) / 2, m[0, 2] - m[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1 - m[0, 0] - m[1, 1] + m[2, 2])) / 2, m[1, 0] - m[0, 1])
    return (w, x, y, z)


def yaw_pitch_roll(R: np.ndarray) -> tuple[float, float, float]:
    """ZYX angles in degrees, as MMGIS reports them (§2)."""
    return (math.degrees(math.atan2(R[1, 0], R[0, 0])), math.degrees(-math.asin(max(-1.0, min(1.0, R[2, 0])))),
            math.degrees(math.atan2(R[2, 1], R[2, 2])))


def rotation_zyx(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Degrees -> R = Rz(yaw)·Ry(pitch)·Rx(roll) (x forward, y right, z down)."""
    return rz(yaw) @ ry(pitch) @ rx(roll)


def rx(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def az_el(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directions (x north/forward, y east/right, z down) -> (azimuth ° clockwise from x in [0, 360), elevation °)."""
    d = np.asarray(d, dtype=float)
    az = np.degrees(np.arctan2(d[..., 1], d[..., 0])) % 360.0
    el = np.degrees(np.arctan2(-d[..., 2], np.hypot(d[..., 0], d[..., 1])))
    return az, el


def direction(az: np.ndarray, el: np.ndarray) -> np.ndarray:
    """(azimuth °, elevation °) -> unit directions, the inverse of az_el."""
    a, e = np.broadcast_arrays(np.radians(az), np.radians(el))
    ce = np.cos(e)
    return np.stack([ce * np.cos(a), ce * np.sin(a), -np.sin(e)], axis=-1)


def mast_pointing(az: float, el: float) -> np.ndarray:
    """G = Rz(az)·Ry(el): the mast head's rotation for rover-frame pointing angles (§3)."""
    return rz(az) @ ry(el)
