"""Scale-out: the planned stacks of a run as tasks on a Ray cluster (``--executor ray``).

The only package that imports ``ray`` (an optional extra: ``pip install 'proxynas[ray]'``). The
executor registers itself from :mod:`proxynas.scaleout.plugin` (its options and flags; found through
this project's ``proxynas.executors`` entry point), which imports :mod:`proxynas.scaleout.ray_executor`
only when ``ray`` is asked for. Workers train with the engine's own ``StackTrainer``, so a stack's outcomes
are the ones the local executor gives; only the driver writes the results store.
"""
