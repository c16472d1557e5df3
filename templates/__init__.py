"""hubkit's shipped Jinja templates (the top-level ``templates/`` folder, installed as ``hubkit.templates``)."""
