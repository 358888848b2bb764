"""HTTP interface of Whistle: JSON API under ``/api/v1`` and the map page (thin views only)."""
