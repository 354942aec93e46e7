"""qiflow's web pages, served beside the HTTP API by ``qiflow serve``.

Server-rendered Jinja templates in the NHS.UK design system (its frontend packaged with
qiflow, no CDN, no JavaScript needed). Needs the ``http`` extra.
"""

from qiflow.web.app import add_pages, create_site, serve

__all__ = ["add_pages", "create_site", "serve"]
