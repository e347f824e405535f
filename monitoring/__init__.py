"""The monitoring math: pure functions over plain values (numpy and scipy, nothing of ours).

::

    drift.py           drift tests between a reference and a current sample, chosen as
                       Evidently chooses them
    classification.py  accuracy, precision, recall and the confusion matrix from label pairs

Nothing here does I/O or knows about GraphQL, the database, HTTP or settings: ``graph`` and the
``mlgraph`` command load the values and call these functions.
"""
