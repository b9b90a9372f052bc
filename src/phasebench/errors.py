"""Errors a user can cause. Each carries one sentence naming the file, key or plugin at fault."""


class PhasebenchError(Exception):
    """Base class: the message is shown to the user as it is, without a traceback."""


class ConfigError(PhasebenchError):
    """A config file has an unknown key, a wrong type or names something that does not exist."""


class PluginError(PhasebenchError):
    """A plugin module cannot be parsed, imported or does not follow the plugin contract."""


class DataError(PhasebenchError):
    """A data store is missing, truncated or was not written by phasebench."""
