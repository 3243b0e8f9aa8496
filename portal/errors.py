"""Exceptions that domain code raises and views turn into Chinese messages."""


class ValidationFailed(Exception):
    """Input the rules refuse; `errors` maps a form field to its message."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = dict(errors)


class PermissionDenied(Exception):
    """The account may not do this to this object."""

    def __init__(self, message="您没有权限执行此操作"):
        super().__init__(message)
        self.message = message
