"""Registers the hostile-input corpus report (corpus.py): any session that runs corpus cases
ends with the table of cases tried and passed by the issue's groups."""
from corpus import CorpusReport


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("gankit-corpus"):
        config.pluginmanager.register(CorpusReport(), "gankit-corpus")
