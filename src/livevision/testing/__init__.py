"""Helpers shared by the test suite and the benchmark scripts: tiny random-weight Hugging Face models
built from the transformers test configs (`tiny_models`). They need the `export` extra (torch,
transformers); nothing in livevision's runtime imports them."""
