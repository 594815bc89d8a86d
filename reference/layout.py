"""Moving the channel axis: inside the reference every array is channels_last."""
import numpy as np

DATA_FORMATS = ("channels_last", "channels_first")


def check_data_format(data_format):
    if data_format not in DATA_FORMATS:
        raise ValueError(f"Invalid data_format {data_format!r}: expected one of {DATA_FORMATS}")


def to_channels_last(x, data_format):
    """(b, c, *spatial) -> (b, *spatial, c) when data_format is channels_first."""
    check_data_format(data_format)
    return np.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def from_channels_last(x, data_format):
    """(b, *spatial, c) -> (b, c, *spatial) when data_format is channels_first."""
    check_data_format(data_format)
    return np.moveaxis(x, -1, 1) if data_format == "channels_first" else x
