"""The errors newsclf raises for bad input. The CLI prints their message without a traceback."""


class NewsclfError(ValueError):
    """Bad input: the message says what was received, what was expected, and how to fix it."""


class ConfigError(NewsclfError):
    """A config value is out of range or inconsistent."""


class DataError(NewsclfError):
    """The data cannot be used as given."""


class ModelError(NewsclfError):
    """A model cannot be found or loaded."""


class HubUnreachableError(NewsclfError):
    """A Hub id was given but the Hub cannot be reached (offline, or HF_HUB_OFFLINE set)."""


class RunExistsError(NewsclfError):
    """The output directory already holds a run."""


class InputError(NewsclfError):
    """A text given to classify cannot be used (blank, or not a string)."""


class OutputError(NewsclfError):
    """An output path cannot be created or written."""


class TrainingError(NewsclfError):
    """Training cannot go on as configured (the loss diverged, the device ran out of memory)."""
