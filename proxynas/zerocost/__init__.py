"""Zero-cost measures: rank untrained networks by one number each (Abdelfattah et al., ICLR 2021; NASLib).

One module per measure, each registered with ``@register_measure`` (:mod:`proxynas.zerocost.measure`; the
registry imports every module of this package on its first lookup, and the ``proxynas.scorers`` entry points):
``params``, ``flops``, ``synflow`` (data-free) and ``snip``, ``grasp``, ``fisher``, ``grad_norm``,
``jacob_cov``, ``nwot``, ``zen`` (``zen`` draws its own Gaussian inputs, so it needs only the shape).
:mod:`proxynas.zerocost.score` scores candidates; ``vote`` combines stored scores (:mod:`.vote`).
"""

from proxynas.zerocost.measure import MEASURES, Measure, Probe, register_measure

__all__ = ["MEASURES", "Measure", "Probe", "register_measure"]
