"""Fixtures for the privacy tests."""
from __future__ import annotations

import logging
import os
import warnings

import pytest


@pytest.fixture
def restore_logging():
    """Undo `configure_logging` (root handlers and level, library levels, structlog, warnings capture)."""
    import structlog

    from bot.logging_setup import LIBRARY_LOGGERS, NOISY_LOGGERS

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS + NOISY_LOGGERS}
    structlog_config = structlog.get_config()
    environ = {name: os.environ.get(name) for name in ("TF_CPP_MIN_LOG_LEVEL", "LOG_LEVEL_LIBRARIES")}
    showwarning = warnings.showwarning
    yield
    logging.captureWarnings(False)
    warnings.showwarning = showwarning
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)
    structlog.configure(**structlog_config)
    for name, value in environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
