"""The browser pages: the engineers' chat (gateway ``/``), the operators' view (gateway ``/ops``) and the
site admins' page (site service ``/admin``). Static files only; their data comes from the JSON APIs.

Imports neither ``api.gateway`` nor ``api.site_service``: each app installs the pages it serves.
"""

from api.web.pages import CONTENT_SECURITY_POLICY, install_pages

__all__ = ["CONTENT_SECURITY_POLICY", "install_pages"]
