"""Hugging Face image pre-processing in numpy/OpenCV (it is no task): the processors' rules (recipes),
their resizes, and `--input-size`."""
