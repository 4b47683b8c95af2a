"""Transformers that prepare data for skal's estimators.

:class:`TabularToImage` lays the features of tabular rows out on a 2-D
pixel grid learned from the data (DeepInsight), so that a convolutional
network can read each row as an image.
"""

from ._tabular_to_image import TabularToImage

__all__ = ["TabularToImage"]
