"""The exceptions livevision raises. The command line turns each into one line and an exit code."""


class LiveVisionError(Exception):
    """Base class of every error livevision raises on purpose."""

    exit_code = 1


class ModelNotFoundError(LiveVisionError):
    """A model id or folder that cannot be resolved (missing folder, Hub unreachable and nothing cached)."""


class UnsupportedModelError(LiveVisionError):
    """An architecture livevision cannot run, or one that does not fit the requested task."""


class ExportError(LiveVisionError):
    """The ONNX export failed or produced a model that does not match PyTorch."""


class CacheError(LiveVisionError):
    """A cache entry is missing, truncated or corrupt and cannot be used."""


class MissingDependencyError(LiveVisionError):
    """An optional dependency (torch, transformers, optimum) is needed for this operation."""


class UsageError(LiveVisionError):
    """Bad arguments: an unknown task, an invalid option value."""

    exit_code = 2


class OptionError(UsageError, ValueError):
    """A bad option value (an unknown precision, a batch of 0...), raised where the option enters:
    the command line, `pipeline()`, `load_model`, `Stream`. A ValueError too, as transformers'
    users expect of a bad argument; the command line prints it as one line and exits with 2."""
