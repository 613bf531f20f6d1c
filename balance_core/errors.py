"""Engine exceptions with messages a GIS analyst can act on.

The Processing provider turns every `BalanceError` into a `QgsProcessingException`;
anything else escaping the engine is a bug, not a user error.
"""


class BalanceError(Exception):
    """Base class: a problem with the user's input or settings."""


class RasterReadError(BalanceError):
    """A raster cannot be opened or one of its blocks cannot be read."""


class GridMismatchError(BalanceError):
    """Image and mask do not share CRS, size, origin or pixel size."""


class InvalidParameterError(BalanceError):
    """A setting is out of range or contradicts the data (e.g. patch larger than raster)."""


class MaskTypeError(BalanceError):
    """The mask band does not hold integer class values."""


class AllExcludedError(BalanceError):
    """No patch is left to weight after the exclusion rules."""


class CancelledError(BalanceError):
    """The user cancelled; raised so that callers never mistake partial work for a result."""


class DependencyError(BalanceError):
    """An optional package (torch, transformers, pyarrow, hnswlib, faiss) is needed but missing."""


class EmbedderError(BalanceError):
    """The embedding model cannot be found, downloaded or run."""


class CacheError(BalanceError):
    """The embeddings cache file exists but is not one this tool wrote."""


class PairingError(BalanceError):
    """Images and masks cannot be paired one to one."""


class OutputWriteError(BalanceError):
    """An output cannot be written (full disk, no permission, a folder in the way)."""
