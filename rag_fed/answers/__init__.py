"""Answer composition for sites and the gateway alike: evidence selection, the support check, refusal
and the answer strategies (``extractive | grounded | generative``). Knows neither HTTP nor the router.

Modules: ``text`` (units, terms, facts), ``evidence`` (selection at a site), ``ranking`` (across
sites; refusal), ``support`` (the check), ``compose`` (strategies, streaming), ``rewrite`` (follow-ups
made standalone), ``prompts``, ``settings``. Only the settings are imported here, so that
``rag_fed.config`` can use them without importing the models.
"""

from rag_fed.config import AnswerSettings, AnswerStrategy, EvidenceSettings

__all__ = ["AnswerSettings", "AnswerStrategy", "EvidenceSettings"]
