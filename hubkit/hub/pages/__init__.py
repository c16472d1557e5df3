"""The local hub's read-only web pages, on the Hub's URL scheme (``/``, ``/{ns}/{name}``, ``/tree``,
``/blob``, ``/commits``, ``/commit``) plus hubkit's ``/revisions`` and ``/compare``.

:mod:`~hubkit.hub.pages.routing` maps paths to :mod:`~hubkit.hub.pages.handlers`, which build view data
(:mod:`~hubkit.hub.pages.views`, :mod:`~hubkit.hub.pages.history`: frozen dataclasses) and render the
Jinja templates of ``templates/`` (:mod:`~hubkit.hub.pages.render`). Cards are untrusted: they are
rendered and sanitised by :mod:`~hubkit.hub.pages.markdown`. See docs/local-hub.md, "Pages".
"""
