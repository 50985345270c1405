"""Exact bounds of the flat (1545,) float32 observation, for the Box spaces of the
gymnax and Gymnasium environments.

Every observation value is an int8 numerator over a fixed denominator
(``hackmatrix.domain.observation.OBS_SCALE``), so it lies in [-128 / scale,
127 / scale]; generated play stays within [0, 127 / scale] (only a scenario with a
negative transmission timer goes below 0).
"""

from __future__ import annotations

import numpy as np

from hackmatrix.domain.observation import OBS_SCALE

OBS_LOW = (np.float32(-128.0) / OBS_SCALE).astype(np.float32)
OBS_HIGH = (np.float32(127.0) / OBS_SCALE).astype(np.float32)
