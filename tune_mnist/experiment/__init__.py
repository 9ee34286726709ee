"""The experiment on disk and its safety: storage paths and URIs, the driver lock that keeps two
drivers off one experiment, the guards, what ``--resume`` trains again, and the options saved for
``--resume``.

May import: core.
"""
