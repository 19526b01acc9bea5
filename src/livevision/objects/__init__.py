"""Objects over time: persistent track ids (tracking, relink), distances from a depth map of the same
stream (distance), the scores that measure tracking (metrics) and a synthetic clip with known trajectories
to measure them on (synthetic)."""
