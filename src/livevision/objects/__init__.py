"""Objects over time: persistent track ids (tracking), the scores that measure them (metrics) and a
synthetic clip with known trajectories to measure them on (synthetic)."""
