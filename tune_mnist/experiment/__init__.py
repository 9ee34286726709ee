"""The experiment on disk and its safety: storage paths and URIs, the driver lock that keeps two
drivers off one experiment, the guards and the rebuild of Ray's state, and the options saved for
``--resume``.

May import: core.
"""
