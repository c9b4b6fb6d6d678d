"""The NNI bridge: proxies as the trials of NNI experiments and as the evaluator of NNI's NAS.

Nothing outside this package imports ``nni``; the modules here that need it import it at the top,
so load them lazily (the ``proxynas nni`` command does) where NNI may be missing.

- :mod:`proxynas.nni.space`: a search space as NNI's search-space JSON, and back.
- :mod:`proxynas.nni.messages`: refuse text that NNI 3.0 would mangle between its processes.
- :mod:`proxynas.nni.evaluate`: train one candidate on a proxy into the results store.
- :mod:`proxynas.nni.trial`: the trial entry point of an HPO experiment.
- :mod:`proxynas.nni.tuners`: the HPO tuners that work, with their arguments.
- :mod:`proxynas.nni.experiment`: a local HPO experiment, its config and its YAML twin.
- :mod:`proxynas.nni.report`: the experiment's best candidates against the store.
- :mod:`proxynas.nni.nas`: an NNI 3 ``ModelSpace`` and a ``FunctionalEvaluator`` function.
"""
