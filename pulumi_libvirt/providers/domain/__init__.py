"""Domains (virtual machines), in small modules: ``logic`` (the resource), ``checks``
(cross-field checks at preview), ``definition`` (define, read, references), ``changes`` (live
/ restart / replace), ``live`` (changes to the running guest), ``power`` (start and stop),
``addresses`` (``wait_for_ip``)."""

from .logic import DomainLogic

__all__ = ["DomainLogic"]
