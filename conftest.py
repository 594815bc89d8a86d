# The plugin is registered by the installed package's pytest11 entry point under this same
# name; naming it here as well makes a plain checkout (PYTHONPATH=.) work without installing.
pytest_plugins = ["conformance.plugin"]
