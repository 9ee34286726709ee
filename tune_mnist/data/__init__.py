"""MNIST in: reading the files (IDX, CSV, download) into validated arrays, the validation split and
subsets, a config's input tensors, and the data options shared by the two CLIs.

May import: core.
"""
