"""The versioned power catalogue (赋权事项清单) and the competence decision built on it."""

from dispatch.catalog.competence import CaseFacts, Competence, CompetenceError, Decision, Reason
from dispatch.catalog.loader import bundled_catalog_path, load_catalog, parse_catalog
from dispatch.catalog.models import CatalogError, CatalogProblem, GrantLine, Matter
from dispatch.catalog.service import Catalogue

__all__ = [
    "CaseFacts",
    "CatalogError",
    "CatalogProblem",
    "Catalogue",
    "Competence",
    "CompetenceError",
    "Decision",
    "GrantLine",
    "Matter",
    "Reason",
    "bundled_catalog_path",
    "load_catalog",
    "parse_catalog",
]
