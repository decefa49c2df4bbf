"""The lowest layer: domain types, the prompt language, the configuration schema, the model catalogue
and image helpers. Everything else of imaginebot imports it; it imports no other project package and
neither torch, diffusers, discord nor SQLAlchemy (checked by `lint-imports`)."""
