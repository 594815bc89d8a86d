"""keras-conformance: check a Keras-compatible implementation against a float64 reference."""
__version__ = "0.1.0"
