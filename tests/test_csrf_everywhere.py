"""CSRF on every state change (COMPLIANCE item 18): every POST route of the matrix, sent by a
role that may use it but without the page's token, is refused with the 页面已过期 message."""
import pytest

from tests.test_authz_matrix import BAD_REQUEST, MATRIX, OK, ROLES, matrix_tree  # noqa: F401 (fixture)

EXPIRED = "页面已过期（安全令牌失效）"


def _allowed_role(rule):
    """The first role the route lets through, so that only the token can stop the request."""
    return next((role for role in ROLES if rule(role) in (OK, BAD_REQUEST)), "anonymous")


#: role -> the POST routes it is the first allowed on (one login per role)
POSTS_BY_ROLE = {}
for _endpoint, (_method, _, _rule) in sorted(MATRIX.items()):
    if _method == "POST":
        POSTS_BY_ROLE.setdefault(_allowed_role(_rule), []).append(_endpoint)


def test_every_post_route_is_tried():
    assert sum(map(len, POSTS_BY_ROLE.values())) == sum(method == "POST" for method, _, _ in MATRIX.values()) > 30


@pytest.mark.parametrize("role", sorted(POSTS_BY_ROLE))
def test_a_post_without_its_token_is_refused(role, app, matrix_tree, login):
    client = app.test_client()
    if role != "anonymous":
        login(client, getattr(matrix_tree, role).phone)
    refused_otherwise = []
    for endpoint in POSTS_BY_ROLE[role]:
        response = client.post(MATRIX[endpoint][1](matrix_tree), data={"version": "1"})
        if response.status_code != 400 or EXPIRED not in response.get_data(as_text=True):
            refused_otherwise.append((endpoint, response.status_code))
    assert not refused_otherwise
