"""Condensation methods that make proxy training sets, behind one registry."""

from condensed.base import Context, Method, Settings
from condensed.coresets import HerdingCoreset, KCenterCoreset, RandomCoreset
from condensed.dc import DC
from condensed.dm import DM
from condensed.dsa import DSAMethod
from condensed.idc import IDC, IDCI
from condensed.registry import METHODS, get_method, list_methods, register_method

for _method in (RandomCoreset(), HerdingCoreset(), KCenterCoreset()):
    register_method(_method)
for _method in (DC(), DSAMethod(), DM(), IDC(), IDCI()):
    register_method(_method)

__all__ = ["METHODS", "Context", "Method", "Settings", "get_method", "list_methods", "register_method"]
