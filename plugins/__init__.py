"""The built-in partner plugins. Each is registered through the `coopreg.plugins` entry
point in pyproject.toml, exactly as a third party's plugin is."""
