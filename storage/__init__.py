"""kesu's store: schema, migrations and repositories. Imports nothing from ``bot``."""
