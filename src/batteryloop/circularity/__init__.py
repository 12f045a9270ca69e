"""Circularity: producer responsibility, collection and recycling, recycled content and the material-flow model."""
