"""A plugin whose module cannot be imported: a missing library imported at the top."""
import a_library_that_is_not_installed  # noqa: F401
