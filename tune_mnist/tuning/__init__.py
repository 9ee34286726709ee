"""The run itself: the list of trials and their names, the Ray session, the Tuner of each mode
(``tuner``), the live table, the dry run and the closing summary.

May import everything below it: core, data, model, training, trainables, experiment, strategies,
confirm, extras, and search_spaces.
"""
