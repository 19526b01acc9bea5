"""The tasks: one package each (depth/, classification/, segmentation/), registered in tasks.registry;
shared numpy helpers (labels, region_resize) beside them."""
