"""The course's own code: exercise checks, lesson helpers, the notebook executor.

``checks`` runs a lesson's checks and prints one line each; ``exercises/`` holds each
lesson's checks; ``labels`` and ``feed_reader`` are helpers the lessons share; ``relay``
is a TCP relay a check can cut; ``execute`` re-runs notebooks (``make notebooks``).
"""
