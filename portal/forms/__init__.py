"""Flask-WTF forms: they carry fields, kept values and CSRF; the rules live in the domain."""
